import cv2
import numpy as np
import pytest
import torch

from colorize import main as colorize_main
from common.checkpoint import save_checkpoint
from common.data import read_image
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
    from test_colorizer import main as evaluate_main

    for name in ("reg.pt", "cls.pt"):
        evaluate_main(["--checkpoint", str(checkpoints / name), "--data", str(tiny_split), "--out",
                       str(tmp_path / name / "eval"), "--device", "cpu"])
        tests = sorted((tiny_split / "test").iterdir())
        colorize_main([*map(str, tests), "-o", str(tmp_path / name / "colorize"), "--checkpoint",
                       str(checkpoints / name), "--device", "cpu", "--batch-size", "1"])
        for picture in tests:
            evaluated = read_image(tmp_path / name / "eval" / "images" / f"{picture.stem}.png")
            colorized = read_image(tmp_path / name / "colorize" / f"{picture.stem}_color.png")
            assert np.array_equal(evaluated, colorized), picture.name
            assert np.abs(evaluated[..., 0].astype(int) - evaluated[..., 2]).max() > 10  # not a gray picture
