import cv2
import numpy as np
import pytest
import torch

from colorize import main as colorize_main
from common.checkpoint import save_checkpoint
from common.images import read_image
from common.inference import lightness
from common.models import Classifier, Colorizer
from tests.conftest import made_up_image, write_rgb


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    regression = Colorizer((4, 4, 8, 8, 8))
    with torch.no_grad():
        regression.up[-1].bias.copy_(torch.tensor([70.0, 100.0]))  # strong colour, often out of gamut
    save_checkpoint(folder / "reg.pt", regression, args={"size": 32})
    save_checkpoint(folder / "cls.pt", Classifier((4, 4, 8, 8, 8)), args={"size": 32})
    return folder


def photo(kind, width=1001, height=767):
    rgb = cv2.resize(made_up_image(np.random.default_rng(3), 64), (width, height), interpolation=cv2.INTER_LINEAR)
    if kind == "gray8":
        return rgb[..., 1]
    if kind == "gray16":
        return rgb[..., 1].astype(np.uint16) * 257 + 100
    if kind == "rgba":
        return np.dstack([rgb, np.tile(np.arange(width, dtype=np.uint8), (height, 1))])
    return rgb


def save(path, img):
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA if img.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), img)
    return path


@pytest.mark.parametrize("kind", ["gray8", "gray16", "rgb", "rgba"])
def test_output_keeps_size_depth_alpha_and_lightness(kind, checkpoints, tmp_path):
    src = save(tmp_path / f"in_{kind}.png", photo(kind))
    colorize_main([str(src), "-o", str(tmp_path / "out"), "--checkpoint", str(checkpoints / "reg.pt")])
    original, result = read_image(src), read_image(tmp_path / "out" / f"in_{kind}_color.png")
    assert result.shape[:2] == (767, 1001) and result.dtype == original.dtype
    assert result.shape[2] == (4 if kind == "rgba" else 3)
    if kind == "rgba":
        assert np.array_equal(result[..., 3], original[..., 3])
    rgb = result[..., :3]
    assert np.abs(rgb[..., 0].astype(int) - rgb[..., 2]).max() > 20  # it really has colour
    limit = 0.5 if kind == "gray16" else 1.0  # one 8-bit level moves L by at most about 0.9
    assert np.abs(lightness(result) - lightness(original)).max() <= limit


def test_corrupt_file_in_folder_others_written_nonzero_exit(checkpoints, tmp_path, capsys):
    folder = tmp_path / "photos"
    for i in range(3):
        write_rgb(folder / "sub" / f"p{i}.jpg", made_up_image(np.random.default_rng(i), 50))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(SystemExit) as e:
        colorize_main([str(folder), "-o", str(tmp_path / "out"), "--checkpoint", str(checkpoints / "cls.pt"),
                       "--confidence", "--compare"])
    assert e.value.code == 1
    captured = capsys.readouterr()
    assert "3 written" in captured.out and "1 skipped" in captured.out and "broken.jpg" in captured.err
    for i in range(3):
        for suffix in ("_color", "_compare", "_confidence"):
            assert (tmp_path / "out" / "sub" / f"p{i}{suffix}.png").is_file()
    compare = read_image(tmp_path / "out" / "sub" / "p0_compare.png")
    assert compare.shape == (50, 150, 3)


def test_inputs_are_never_overwritten_and_existing_outputs_are_kept(checkpoints, tmp_path, capsys):
    folder = tmp_path / "photos"
    a = write_rgb(folder / "a.png", made_up_image(np.random.default_rng(1), 40))
    b = write_rgb(folder / "a_color.png", made_up_image(np.random.default_rng(2), 40))
    before = a.read_bytes(), b.read_bytes()
    with pytest.raises(SystemExit):
        colorize_main([str(folder), "-o", str(folder), "--checkpoint", str(checkpoints / "reg.pt")])
    assert (a.read_bytes(), b.read_bytes()) == before
    assert "would overwrite an input" in capsys.readouterr().err
    assert (folder / "a_color_color.png").is_file()
    out = tmp_path / "out"
    colorize_main([str(a), "-o", str(out), "--checkpoint", str(checkpoints / "reg.pt")])
    stamp = (out / "a_color.png").stat().st_mtime_ns
    colorize_main([str(a), "-o", str(out), "--checkpoint", str(checkpoints / "reg.pt")])
    assert "1 already there" in capsys.readouterr().out and (out / "a_color.png").stat().st_mtime_ns == stamp


def test_regression_model_refuses_confidence_and_huge_images_are_refused(checkpoints, tmp_path, capsys):
    src = write_rgb(tmp_path / "x.png", made_up_image(np.random.default_rng(1), 40))
    with pytest.raises(SystemExit) as e:
        colorize_main([str(src), "-o", str(tmp_path / "o"), "--checkpoint", str(checkpoints / "reg.pt"),
                       "--confidence"])
    assert e.value.code == 2 and "--confidence needs a classifier" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        colorize_main([str(src), str(tmp_path / "missing.png"), "-o", str(tmp_path / "o"), "--checkpoint",
                       str(checkpoints / "reg.pt"), "--max-pixels", "1000"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "above --max-pixels" in err and "missing.png" in err


def test_empty_input_and_unwritable_output_are_one_line_errors(checkpoints, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        colorize_main([str(tmp_path / "empty"), "-o", str(tmp_path / "o"), "--checkpoint", str(checkpoints / "reg.pt")])
    assert e.value.code == 2 and "no images in" in capsys.readouterr().err
    src = write_rgb(tmp_path / "x.png", made_up_image(np.random.default_rng(1), 40))
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(SystemExit) as e:
        colorize_main([str(src), "-o", str(tmp_path / "afile" / "sub"), "--checkpoint", str(checkpoints / "reg.pt")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "cannot write output" in err and err.count("\n") == 1


def test_evaluation_scores_exactly_what_colorize_writes(checkpoints, tiny_split, tmp_path):
    """One road from L to colour: test_colorizer's PNGs equal colorize.py's output for the same test picture."""
    from common.files import split_parts
    from test_colorizer import main as evaluate_main

    for name in ("reg.pt", "cls.pt"):
        evaluate_main(["--checkpoint", str(checkpoints / name), "--data", str(tiny_split), "--out",
                       str(tmp_path / name / "eval"), "--device", "cpu"])
        tests = split_parts(tiny_split)["test"]
        colorize_main([*map(str, tests), "-o", str(tmp_path / name / "colorize"), "--checkpoint",
                       str(checkpoints / name), "--device", "cpu", "--batch-size", "1"])
        for picture in tests:
            evaluated = read_image(tmp_path / name / "eval" / "images" / f"{picture.stem}.png")
            colorized = read_image(tmp_path / name / "colorize" / f"{picture.stem}_color.png")
            assert np.array_equal(evaluated, colorized), picture.name
            assert np.abs(evaluated[..., 0].astype(int) - evaluated[..., 2]).max() > 10  # not a gray picture


def float64_fit_gamut(L, ab, steps=8):
    """The gamut fit colorize.py had before it moved to torch, line for line: numpy, float64 colour maths on
    float32 LAB, OpenCV's matrix inverted in float32."""
    white = np.array([0.950456, 1.0, 1.088754], np.float32)
    to_rgb = np.linalg.inv(np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                                     [0.019334, 0.119193, 0.950227]], np.float32))

    def inside(lab):
        lab = lab.astype(np.float64)
        fy = (lab[..., 0] + 16) / 116
        f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
        rgb = (np.where(f > 6 / 29, f**3, (f - 16 / 116) / 7.787) * white) @ to_rgb.T
        return ((rgb >= -1e-4) & (rgb <= 1 + 1e-4)).all(axis=-1)

    lab = np.dstack([L, ab]).astype(np.float32)
    out = ~inside(lab)
    L_out, ab_out = lab[out][:, :1], lab[out][:, 1:]
    lo, hi = np.zeros(len(L_out), np.float32), np.ones(len(L_out), np.float32)
    for _ in range(steps):
        mid = (lo + hi) / 2
        ok = inside(np.hstack([L_out, ab_out * mid[:, None]]))
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    lab[out, 1:] = ab_out * lo[:, None]
    return lab


def test_gamut_fit_keeps_L_and_matches_the_float64_bisection_within_a_level():
    from common.color import lab_to_rgb
    from common.inference import fit_gamut, in_gamut

    rng = np.random.default_rng(0)
    L = rng.uniform(0, 100, (200, 300)).astype(np.float32)
    ab = rng.uniform(-128, 127, (200, 300, 2)).astype(np.float32)  # most of these are out of gamut
    fitted = fit_gamut(L, ab)
    assert np.array_equal(fitted[..., 0], L)
    assert in_gamut(torch.from_numpy(fitted).view(-1, 3)).float().mean() > 0.999
    ours, before = lab_to_rgb(fitted).astype(int), lab_to_rgb(float64_fit_gamut(L, ab)).astype(int)
    # where float32 and float64 take another bisection turn both land within 1/256 of the chroma at the edge,
    # a few levels apart only where a channel sits at 0 (steep sRGB curve): 1 pixel in 60,000 of this noise
    levels = np.abs(ours - before).max(axis=-1)
    assert (levels > 1).mean() < 1e-4 and levels.max() <= 8
    assert np.abs(lab_to_rgb(np.dstack([L, ab])).astype(int) - ours).max() > 50  # plain clipping differs a lot


def test_colorize_output_is_within_a_level_of_the_float64_gamut_fit(checkpoints):
    from common.checkpoint import load_model
    from common.images import upsample
    from common.inference import colorize, compose, lightness, predict, shrink

    model, _ = load_model(checkpoints / "reg.pt", torch.device("cpu"))
    img = photo("rgb")
    L = lightness(img)
    ab = np.dstack([upsample(c, L.shape) for c in predict(model, [shrink(L, 32)], torch.device("cpu"))[1][0]])
    before = compose(float64_fit_gamut(L, ab), img).astype(int)
    ours = colorize(model, [img], 32, torch.device("cpu"))[0].rgb.astype(int)
    # every pixel of this photo is out of gamut; the old fit itself stops 1/256 of the chroma short of the
    # edge, so a pixel where the two take another last turn can land 2 levels off in a channel at 0
    levels = np.abs(ours - before).max(axis=-1)
    assert (levels > 1).mean() < 2e-5 and levels.max() <= 2  # measured: 9 of 767,767 pixels at 2 levels
    assert np.abs(ours[..., 0] - ours[..., 2]).max() > 20  # strong colour, so the fit had work to do


def test_paired_comparison_of_a_model_with_itself_shows_no_difference(checkpoints, tiny_split, tmp_path, capsys):
    import json
    import shutil

    from test_colorizer import main as evaluate_main

    shutil.copy(checkpoints / "reg.pt", tmp_path / "again.pt")
    evaluate_main(["--checkpoint", str(checkpoints / "reg.pt"), str(tmp_path / "again.pt"), str(checkpoints / "cls.pt"),
                   "--data", str(tiny_split), "--out", str(tmp_path / "cmp"), "--device", "cpu"])
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert all(row == {"difference": 0.0, "ci95": [0.0, 0.0]} for row in comparison["again"].values())
    assert comparison["cls"]["mse_ab"]["difference"] != 0
    printed = capsys.readouterr().out
    assert "again                    ab MSE (raw units)     +0 [+0, +0]  no difference shown" in printed
    for name in ("reg", "again", "cls"):
        rows = (tmp_path / "cmp" / name / "per_picture.csv").read_text().splitlines()
        assert len(rows) == 5 and rows[0].startswith("picture,mse_ab,psnr")
        assert (tmp_path / "cmp" / name / "extremes.png").is_file()


def test_a_header_claiming_a_huge_picture_meets_the_max_pixels_guard(checkpoints, tmp_path, capsys):
    """PIL's own bomb check used to fail the header read, so OpenCV's raw assertion reached the user."""
    import struct
    import zlib

    data = bytearray(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    data[16:24] = struct.pack(">II", 60000, 60000)  # IHDR width and height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (tmp_path / "bomb.png").write_bytes(data)
    with pytest.raises(SystemExit) as e:
        colorize_main([str(tmp_path / "bomb.png"), "-o", str(tmp_path / "o"), "--checkpoint",
                       str(checkpoints / "reg.pt")])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "60000x60000 is 3600 MP, above --max-pixels 100 MP" in err and "Assertion" not in err


def test_hint_places_are_the_centres_of_the_widest_unsure_regions_and_flat_maps_have_none():
    from common.photos import hint_places, mark_places

    unsure = np.zeros((300, 400), np.float32)
    cv2.circle(unsure, (100, 150), 60, 1.0, -1)  # a wide unsure region...
    cv2.circle(unsure, (320, 80), 25, 1.0, -1)  # ...a smaller one
    unsure[280:284, 380:384] = 1.0  # and a speck
    places = hint_places(unsure)
    assert 3 <= len(places) <= 5
    assert np.hypot(places[0][0] - 100, places[0][1] - 150) < 12
    assert np.hypot(places[1][0] - 320, places[1][1] - 80) < 12
    assert hint_places(np.full((300, 400), 0.5, np.float32)) == []
    marked = mark_places(np.zeros((300, 400, 3), np.uint8), places[:1])
    assert marked[150, 100 - 15:100 + 16].max() == 255 and marked[150, 100].max() == 0  # a ring around, not on it


def test_a_request_stopped_while_its_L_is_worked_out_runs_no_forward_pass(monkeypatch):
    import threading

    from common import inference

    real_check, checked, passes = inference.check, [], []

    def check(event):
        real_check(event)
        checked.append(event)
        event.set()  # the client goes away during the first strip of L

    monkeypatch.setattr(inference, "check", check)
    monkeypatch.setattr(inference, "predict", lambda *args, **kwargs: passes.append(args))
    img = np.full((3 * inference.STRIP_ROWS, 40, 3), 120, np.uint8)
    with pytest.raises(inference.StoppedError):
        inference.colorize_later(Colorizer((4,) * 5), [img], 32, torch.device("cpu"), stop=threading.Event())
    assert len(checked) == 1 and not passes  # stopped at the second strip, before any network or face search
