"""Colour hints: the U-Net, simulated and evaluation hints, hints from users (typed points and hint pictures),
the command line, and the shipped hint model."""
import importlib.util
import json

import numpy as np
import pytest
import torch
from torch import nn

from colorize import main as colorize_main
from common import inference
from common.checkpoint import load_checkpoint, save_checkpoint
from common.color import rgb_to_lab
from common.data import TrainBatches
from common.hints import (
    EVAL_POINTS,
    Hints,
    colour_ab,
    evaluation_points,
    from_points,
    geometric_counts,
    grid,
    hint_regions,
    paint,
    parse_point,
    point_hints,
    simulate,
    simulated_points,
)
from common.images import ImageError, read_image
from common.inference import colorize
from common.models import PRESETS, Classifier, Colorizer
from common.photos import hint_picture, points_as_picture
from common.plots import write_png
from common.prepare import prepared_part
from common.spread import keep_inside
from test_colorizer import main as evaluate_main
from tests.conftest import ROOT, made_up_image, write_rgb
from train_colorizer import main as train_main

CPU = torch.device("cpu")


def test_unet_keeps_network3s_modules_and_brings_each_encoder_map_back():
    model = Colorizer(PRESETS[3], unet=True, hints=True)
    convs = [m for m in model.body.down.modules() if isinstance(m, nn.Conv2d)]
    ups = [m for m in model.body.up.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(4, 16), (16, 32), (32, 64), (64, 128), (128, 256)]
    assert [(c.in_channels, c.out_channels) for c in ups] == [(256, 128), (256, 64), (128, 32), (64, 16), (32, 16)]
    assert model.body.head.in_channels == 16 + 4  # full resolution: the last up module's maps and the input
    assert 0.85e6 < sum(p.numel() for p in model.parameters()) < 0.9e6
    assert model(torch.rand(2, 4, 128, 128)).shape == (2, 2, 128, 128)
    assert Classifier(unet=True)(torch.rand(2, 1, 128, 128)).shape == (2, 228, 32, 32)
    assert set(Colorizer().state_dict()) == set(Colorizer(unet=False).state_dict())  # Networks 1/2/3 unchanged


def test_a_hint_reaches_the_output_at_its_own_pixel_only_through_the_unet():
    def reach(model):
        model.eval()
        x = torch.rand(1, 4, 64, 64, requires_grad=True)
        model(x)[0, :, 40, 20].sum().backward()
        grad = x.grad[0, 1:].abs().sum(0)
        return grad[39:42, 19:22].sum() / grad.sum()  # the share of the hint channels' pull within one pixel

    torch.manual_seed(0)
    assert reach(Colorizer(PRESETS[3], unet=True, hints=True)) > 0.5
    assert reach(Colorizer(PRESETS[3], hints=True)) < 0.01


def test_simulated_hints_follow_the_geometric_count_and_hold_the_patch_means():
    counts = geometric_counts(200_000, torch.Generator().manual_seed(0))
    assert counts.float().mean() == pytest.approx(7.0, abs=0.1)
    assert (counts == 0).float().mean() == pytest.approx(1 / 8, abs=0.005)
    ab = torch.randn(64, 2, 32, 32) * 30
    top, left, side, valid = simulated_points(64, 32, torch.Generator().manual_seed(1))
    assert side.min() >= 1 and side.max() <= 9 and (top + side).max() <= 32 and (left + side).max() <= 32
    hint_ab, mask = paint(ab, (top, left, side, valid))
    for n, k in valid.nonzero():
        t, lft, s = top[n, k], left[n, k], side[n, k]
        assert mask[n, 0, t:t + s, lft:lft + s].all()
    assert mask.sum() <= (side**2 * valid).sum()  # nothing outside the patches
    assert mask[~valid.any(dim=1)].sum() == 0  # pictures drawn without points get none
    again = simulate(torch.rand(64, 1, 32, 32), ab, torch.Generator().manual_seed(1))
    assert torch.equal(again[1], mask) and torch.equal(again[2], ab)


def test_one_lone_patch_holds_exactly_the_truths_mean():
    ab = torch.arange(2 * 8 * 8, dtype=torch.float32).view(1, 2, 8, 8)
    points = (torch.tensor([[2]]), torch.tensor([[3]]), torch.tensor([[3]]), torch.tensor([[True]]))
    hint_ab, mask = paint(ab, points)
    assert mask.sum() == 9 and mask[0, 0, 2:5, 3:6].all()
    assert torch.allclose(hint_ab[0, :, 3, 4], ab[0, :, 2:5, 3:6].mean(dim=(1, 2)))


def test_recoloured_pictures_turn_hue_and_keep_chroma_and_only_pictures_with_hints_turn():
    ab = (torch.randn(400, 2, 1, 1) * 30).expand(-1, -1, 16, 16).contiguous()  # one colour per picture
    hint_ab, mask, target = simulate(torch.rand(400, 1, 16, 16), ab, torch.Generator().manual_seed(2), recolour=1.0)
    turned = ~torch.isclose(target, ab, atol=1e-3).all(dim=(1, 2, 3))
    with_points = mask.flatten(1).any(dim=1)
    assert torch.equal(turned, with_points) and 0.8 < turned.float().mean() < 0.95
    assert torch.allclose(target.norm(dim=1), ab.norm(dim=1), rtol=1e-4, atol=1e-3)
    on = mask.expand_as(ab)
    assert torch.allclose(hint_ab[on], target[on], atol=1e-3)  # hints tell the new colours
    assert (hint_ab - ab)[on].abs().mean() > 10


def halves(n, size=32):
    """n pictures, each of two flat halves (left and right) unlike in L, a and b, with a hard edge between."""
    generator = torch.Generator().manual_seed(5)
    L = torch.full((n, 1, size, size), 0.4)
    L[..., size // 2:] = 0.7
    ab = torch.zeros(n, 2, size, size)
    for half, cols in enumerate((slice(0, size // 2), slice(size // 2, None))):
        angle = torch.rand(n, 1, 1, generator=generator) * 2 * torch.pi + half * torch.pi
        ab[:, 0, :, cols], ab[:, 1, :, cols] = 40 * torch.cos(angle), 40 * torch.sin(angle)
    return L, ab


def hue(ab):
    return torch.atan2(ab[1], ab[0])


def test_a_hints_region_is_its_flat_half_and_a_hint_inside_it_shares_it():
    L, ab = halves(1)
    points = (torch.tensor([10, 12, 4]), torch.tensor([3, 7, 20]), torch.tensor([3, 1, 5]), torch.ones(3, dtype=bool))
    labels, count = hint_regions(L[0], ab[0], points)
    assert count == 2  # the second hint lies in the first one's half
    left, right = labels[:, :16], labels[:, 16:]
    assert (left != 2).all() and (right != 1).all()  # a region stops at the edge
    assert (left == 1).float().mean() > 0.9 and (right == 2).float().mean() > 0.9  # and fills its half


def test_region_turns_change_only_the_halves_that_hold_a_hint_each_by_its_own_angle():
    L, ab = halves(300)
    hint_ab, mask, target = simulate(L, ab, torch.Generator().manual_seed(3), recolour=1.0, regions=1.0)
    assert torch.allclose(target.norm(dim=1), ab.norm(dim=1), rtol=1e-4, atol=1e-3)  # hue turns, chroma stays
    changed = (target - ab).norm(dim=1) > 1e-3  # (N,H,W)
    top, left, side, valid = simulated_points(len(ab), 32, torch.Generator().manual_seed(3))  # simulate's own
    centres = torch.where(valid, left + side // 2, -100)  # the columns its hints' regions grow from
    both = 0
    for n in range(len(ab)):
        near = [(centres[n] < 19) & (centres[n] >= 0), centres[n] >= 13]  # the edge's blur spans 3 columns
        clear = [(centres[n] >= 0) & (centres[n] < 13), centres[n] >= 19]
        for cols, close, inside in zip((slice(0, 16), slice(16, 32)), near, clear):
            share = changed[n, :, cols].float().mean()
            if inside.any():
                assert share > 0.85, n  # a hinted half turns
            elif not close.any():
                assert share == 0, n  # an unhinted half keeps its true colours
        if all(c.any() for c in clear):
            both += 1
            turns = [hue(target[n, :, 16, c]) - hue(ab[n, :, 16, c]) for c in (8, 24)]
            assert torch.cos(turns[0] - turns[1]) < 1 - 1e-6  # each region by its own angle
    assert both > 100
    on = mask.expand_as(ab)
    assert (hint_ab - ab)[on].abs().mean() > 10  # hints tell the new colours


def test_evaluation_points_are_fixed_nested_3x3_and_the_same_for_every_call():
    first, again = evaluation_points(10, 20, 128), evaluation_points(10, 20, 128)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    five = evaluation_points(10, 5, 128)
    assert torch.equal(five[0], first[0][:, :5]) and (first[2] == 3).all()
    with pytest.raises(ValueError):
        evaluation_points(1, EVAL_POINTS + 1, 128)


def test_evaluation_hints_become_the_same_network_input_as_painted_ones():
    ab = torch.randn(3, 2, 32, 32) * 20
    points = evaluation_points(3, 7, 32)
    painted_ab, painted_mask = paint(ab, points)
    for i, hints in enumerate(from_points(ab, points)):
        cells, mask = grid(hints, (32, 32), 32)
        assert np.array_equal(mask, painted_mask[i, 0].numpy())
        assert np.allclose(cells, painted_ab[i].numpy() * mask, atol=1e-4)


def test_a_typed_point_covers_3x3_network_cells_at_any_photo_size():
    red = parse_point("200,100,red")[2]
    hints = point_hints([(200, 100, red)], (512, 1024), 128)
    cells, mask = grid(hints, (512, 1024), 128)
    assert mask.sum() == 9 and mask[24:27, 24:27].all()
    assert np.allclose(cells[:, 25, 25], colour_ab([red])[0])
    with pytest.raises(ValueError, match="outside the photo"):
        point_hints([(1024, 0, red)], (512, 1024), 128)


def test_many_points_are_the_points_one_by_one_in_order():
    rng = np.random.default_rng(3)
    points = [(int(x), int(y), tuple(int(v) for v in c)) for x, y, c in
              zip(rng.integers(0, 300, 40), rng.integers(0, 200, 40), rng.integers(0, 256, (40, 3)))]
    together = point_hints(points, (200, 300), 128)
    one_by_one = [point_hints([p], (200, 300), 128) for p in points]
    for field, parts in zip(together, zip(*one_by_one)):
        assert np.array_equal(field, np.concatenate(parts))
    assert len(point_hints([], (200, 300), 128)) == 0


def test_colour_names_hex_and_bad_points():
    assert parse_point("1,2,#0000ff")[2] == parse_point("1,2,blue")[2] == (0, 0, 255)
    for bad in ("1,2", "x,2,red", "1,2,blu"):
        with pytest.raises(ValueError):
            parse_point(bad)
    a, b = colour_ab([(255, 0, 0)])[0]
    assert a > 60 and b > 40  # red at its own lightness


def test_hint_picture_round_trip_at_another_scale_and_refusals(tmp_path):
    points = [(30, 40, (20, 60, 200)), (150, 90, (200, 40, 30))]
    write_png(tmp_path / "hints.png", points_as_picture(points, (120, 200), 128))
    typed = grid(point_hints(points, (120, 200), 128), (120, 200), 128)
    read = grid(hint_picture(tmp_path / "hints.png", (120, 200)), (120, 200), 128)
    assert np.array_equal(read[1], typed[1]) and read[1].sum() == 18
    assert np.allclose(read[0], typed[0], atol=1e-3)
    once, twice = hint_picture(tmp_path / "hints.png", (120, 200)), hint_picture(tmp_path / "hints.png", (240, 400))
    assert len(twice) == 4 * len(once) and np.array_equal(np.unique(twice.ab, axis=0), np.unique(once.ab, axis=0))
    assert twice.ys.min() == 2 * once.ys.min() and twice.xs.max() == 2 * once.xs.max() + 1  # the same place
    gray = np.full((120, 200, 3), 90, np.uint8)
    gray[10:14, 20:24] = (0, 200, 0)  # painted over a gray copy of the photo: no transparency
    write_rgb(tmp_path / "painted.png", gray)
    painted = hint_picture(tmp_path / "painted.png", (120, 200))
    assert len(painted) == 16 and np.allclose(painted.ab, colour_ab([(0, 200, 0)]))
    with pytest.raises(ImageError, match="aspect ratio"):
        hint_picture(tmp_path / "hints.png", (200, 200))
    write_rgb(tmp_path / "plain.png", np.full((120, 200, 3), 90, np.uint8))
    with pytest.raises(ImageError, match="no hints"):
        hint_picture(tmp_path / "plain.png", (120, 200))
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    with pytest.raises(ImageError, match="junk.png"):
        hint_picture(tmp_path / "junk.png", (120, 200))


@pytest.fixture(scope="module")
def hint_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hintckpt")
    torch.manual_seed(0)
    save_checkpoint(folder / "hints.pt", Colorizer((4, 4, 8, 8, 8), unet=True, hints=True), args={"size": 32})
    save_checkpoint(folder / "plain.pt", Colorizer((4, 4, 8, 8, 8)), args={"size": 32})
    return folder


def test_command_line_hints_change_the_photo_and_bad_hints_are_one_line(hint_checkpoint, tmp_path, capsys):
    photo = write_rgb(tmp_path / "in" / "face.png", made_up_image(np.random.default_rng(1), 96))
    out = tmp_path / "out"
    colorize_main([str(photo), "-o", str(out / "plain"), "--checkpoint", str(hint_checkpoint / "hints.pt")])
    colorize_main([str(photo), "-o", str(out / "hinted"), "--checkpoint", str(hint_checkpoint / "hints.pt"),
                   "--hint", "40,40,blue", "--hint", "10,80,#00ff00"])
    assert "1 with colour hints" in capsys.readouterr().out
    plain, hinted = read_image(out / "plain" / "face_color.png"), read_image(out / "hinted" / "face_color.png")
    assert np.abs(plain.astype(int) - hinted).max() > 0
    with pytest.raises(SystemExit) as e:
        colorize_main([str(photo), "-o", str(out / "x"), "--checkpoint", str(hint_checkpoint / "plain.pt"),
                       "--hint", "1,1,red"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "takes no hints" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as e:
        colorize_main([str(photo), "-o", str(out / "x"), "--checkpoint", str(hint_checkpoint / "hints.pt"),
                       "--hint", "500,1,red"])
    assert e.value.code == 1 and "outside the photo" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        colorize_main([str(photo), "-o", str(out / "x"), "--checkpoint", str(hint_checkpoint / "hints.pt"),
                       "--hint", "5,1,notacolour"])
    assert e.value.code == 2 and "unknown colour" in capsys.readouterr().err


def test_a_folder_of_photos_takes_a_folder_of_hint_pictures_by_name(hint_checkpoint, tmp_path, capsys):
    photos, hints = tmp_path / "photos", tmp_path / "hints"
    for name in ("a", "b", "c"):
        write_rgb(photos / f"{name}.png", made_up_image(np.random.default_rng(len(name)), 64))
    write_png(hints / "a.png", points_as_picture([(20, 20, (0, 0, 255))], (64, 64), 32))
    (hints / "b.png").write_bytes(b"broken")
    with pytest.raises(SystemExit) as e:
        colorize_main([str(photos), "-o", str(tmp_path / "out"), "--hints", str(hints), "--checkpoint",
                       str(hint_checkpoint / "hints.pt")])
    captured = capsys.readouterr()
    assert e.value.code == 1 and "b.png" in captured.err  # the broken hint picture skips its photo, named
    assert "2 written" in captured.out and "1 with colour hints" in captured.out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_color.png", "c_color.png"]
    with pytest.raises(SystemExit) as e:
        colorize_main([str(photos), "-o", str(tmp_path / "out2"), "--hints", str(hints / "a.png"), "--checkpoint",
                       str(hint_checkpoint / "hints.pt")])
    assert e.value.code == 2 and "belong to one photo" in capsys.readouterr().err


@pytest.mark.slow
def test_a_unet_hint_model_trains_and_the_hint_protocol_is_written(tiny_split, tmp_path, capsys):
    out = tmp_path / "run"
    train_main(["--data", str(tiny_split), "--out", str(out), "--epochs", "2", "--net", "unet", "--hints",
                "--size", "32", "--augment", "4", "--batch-size", "8"])
    state = load_checkpoint(out / "model.pt")
    assert state["config"]["unet"] and state["config"]["hints"] and state["args"]["recolour"] == 0.25
    images = prepared_part(tiny_split, "train", 32).stacked()
    batch, _ = next(TrainBatches(images, 8, 1, 32, hints=True).epoch(0))
    assert batch.shape == (8, 4, 32, 32) and set(batch[:, 3].unique().tolist()) <= {0.0, 1.0}
    evaluate_main(["--checkpoint", str(out / "model.pt"), "--data", str(tiny_split), "--out", str(tmp_path / "eval"),
                   "--hints", "0", "5", "20", "--device", "cpu"])
    table = json.loads((tmp_path / "eval" / "hints.json").read_text())
    assert set(table) == {"model", "model, recoloured"} and set(table["model"]) == {"0", "5", "20"}
    for name in ("hints.png", "hints_grid.png", "hints_grid_recoloured.png"):
        assert (tmp_path / "eval" / name).is_file(), name
    regions = json.loads((tmp_path / "eval" / "regions.json").read_text())["model"]
    assert set(regions) == {"test faces", "photos that are not faces"}
    assert all(0 <= t["leak"] <= 1 and 0 <= t["fill"] <= 1 and t["hints"] > 0 for t in regions.values())
    printed = capsys.readouterr().out
    assert "with N hint points per picture" in printed and "region protocol" in printed


def test_leak_and_fill_score_a_hint_that_stays_in_its_region_and_one_that_spreads():
    from common.regions import hint_in, leak_and_fill

    region = np.zeros((40, 40), bool)
    region[5:25, 10:30] = True  # a quarter of the picture
    before, colour = np.zeros((40, 40, 2), np.float32), np.array([40.0, 0.0], np.float32)
    inside = before.copy()
    inside[region] = colour
    assert leak_and_fill(before, inside, colour, region) == (0.0, 1.0)  # the ideal hint
    everywhere = np.broadcast_to(colour * 0.4, before.shape).copy()
    leak, fill = leak_and_fill(before, everywhere, colour, region)
    assert leak == pytest.approx(0.75) and fill == 0.0  # spread evenly, and timid
    truth_ab = np.zeros((40, 40, 2), np.float32)
    truth_ab[region] = (0.0, 30.0)
    hints, turned = hint_in(region, truth_ab, 128)
    assert region[hints.ys, hints.xs].all() and np.allclose(np.hypot(*turned), 30.0)
    hue = np.degrees(np.arctan2(turned[1], turned[0]) - np.arctan2(30.0, 0.0))
    assert abs((hue + 180) % 360 - 180) == pytest.approx(150, abs=1e-3)


def test_a_region_that_cannot_show_its_hint_gets_none():
    from common.regions import showable

    red = np.array([40.0, 20.0], np.float32)
    assert showable(np.full(50, 55.0), red)  # mid lightness shows it
    assert not showable(np.full(50, 99.0), red)  # white paper cannot turn red
    assert not showable(np.full(50, 2.0), red)  # nor can black
    assert not showable(np.full(50, 97.0), np.array([0.0, -60.0], np.float32))  # nor a pale sky deep blue


def test_shipped_hint_model_follows_a_hint_and_more_points_score_better(real_split, tmp_path):
    model_path = ROOT / "pretrained" / "hints.pt"
    from common.checkpoint import load_model

    model, state = load_model(model_path, CPU)
    assert model.takes_hints and model.settings.unet and state["metrics"]["images"] == 75
    images = prepared_part(real_split, "test", 128).squares[:]
    picture = images[0].permute(1, 2, 0).numpy()
    for colour in ((40, 80, 220), (30, 160, 60)):  # blue and green: colours no face in the training set has
        target = colour_ab([colour])[0]
        near = np.s_[87:94, 61:68]  # 7x7 pixels around the hint, on the chin
        before = rgb_to_lab(colorize(model, [picture], 128, CPU)[0].rgb)[near][..., 1:].mean(axis=(0, 1))
        hints = point_hints([(64, 90, colour)], (128, 128), 128)
        after = rgb_to_lab(colorize(model, [picture], 128, CPU, hints=[hints])[0].rgb)[near][..., 1:].mean(axis=(0, 1))
        assert np.linalg.norm(after - target) < 0.7 * np.linalg.norm(before - target)
        hue = np.degrees(np.arctan2(after[1], after[0]) - np.arctan2(target[1], target[0]))
        assert abs((hue + 180) % 360 - 180) < 15  # its hue; the chroma comes about half way
    evaluate_main(["--checkpoint", str(model_path), "--data", str(real_split), "--out", str(tmp_path), "--hints",
                   "0", "20", "--device", "cpu"])
    table = json.loads((tmp_path / "hints.json").read_text())
    assert table["hints"]["20"]["mse_ab"] < 0.6 * table["hints"]["0"]["mse_ab"]
    recoloured = table["hints, recoloured"]
    assert recoloured["20"]["mse_ab"] < 0.1 * recoloured["0"]["mse_ab"]


def test_no_hints_and_empty_hints_colour_alike(hint_checkpoint):
    from common.checkpoint import load_model

    model, _ = load_model(hint_checkpoint / "hints.pt", CPU)
    picture = made_up_image(np.random.default_rng(5), 32)
    none = colorize(model, [picture], 32, CPU)[0].rgb
    empty = colorize(model, [picture], 32, CPU, hints=[Hints.none()])[0].rgb
    assert np.array_equal(none, empty)


def score_main(argv):
    """tools/score_hint_models.py's main, loaded from its file (tools/ is no package)."""
    spec = importlib.util.spec_from_file_location("score_hint_models", ROOT / "tools" / "score_hint_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_scoring_arms_refuses_a_model_without_hints_or_a_missing_file_in_one_line_before_any_work(tmp_path, capsys):
    for bad, said in ((ROOT / "pretrained" / "unet.pt", "takes no colour hints"), (tmp_path / "no.pt", "no such")):
        with pytest.raises(SystemExit) as stop:
            score_main([str(ROOT / "pretrained" / "hints.pt"), str(bad), "--out", str(tmp_path / "arms"),
                        "--device", "cpu"])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith(f"error: {bad}") and said in err and err.count("\n") == 1
    assert not (tmp_path / "arms").exists()


@pytest.mark.slow
def test_hint_arms_are_scored_on_training_faces_alone_with_and_without_keeping_inside(hint_checkpoint, tiny_split,
                                                                                      tmp_path, capsys):
    score_main([str(hint_checkpoint / "hints.pt"), "--data", str(tiny_split), "--out", str(tmp_path / "arms"),
                "--device", "cpu"])
    linked = sorted(p.name for p in (tmp_path / "arms" / "train-faces").iterdir())
    assert linked == sorted(json.loads((tiny_split / "split.json").read_text())["train"])
    scores = json.loads((tmp_path / "arms" / "arms.json").read_text())[str(hint_checkpoint / "hints.pt")]
    alone, inside = scores["regions"]["network alone"], scores["regions"]["kept inside"]
    assert list(alone) == list(inside) == ["3 photos", "10 training faces", "8 made photos"]
    assert alone["3 photos"]["hints"] > 0 and alone["3 photos"]["leak"] != inside["3 photos"]["leak"]
    assert inference.keep_inside is keep_inside  # the stand-in is gone after scoring
    assert set(scores["mse_ab"]) == {"0 true", "10 true", "10 recoloured"}
    assert f"| {hint_checkpoint / 'hints.pt'} |" in capsys.readouterr().out


def test_the_photos_that_are_not_faces_take_in_the_fetched_opencv_ones(tmp_path):
    from common.regions import photos_that_are_not_faces

    bundled = photos_that_are_not_faces(side=64, opencv=tmp_path / "not fetched")
    write_rgb(tmp_path / "fetched" / "wide.png", np.full((90, 200, 3), (200, 80, 30), np.uint8))
    write_rgb(tmp_path / "fetched" / "tall.jpg", np.full((300, 120, 3), (30, 80, 200), np.uint8))
    photos = photos_that_are_not_faces(side=64, opencv=tmp_path / "fetched")
    assert len(bundled) == 10 and len(photos) == 12
    assert [p.shape for p in photos[10:]] == [(64, 26, 3), (29, 64, 3)]  # sorted by name, long side 64
    assert photos[11][0, 0].tolist() == [200, 80, 30]  # read as RGB
