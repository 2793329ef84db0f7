import io
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colorize import main as colorize_main
from common.checkpoint import load_checkpoint, save_checkpoint
from common.images import ImageError, read_image
from common.models import Colorizer
from tests.conftest import ROOT, made_up_image

RUN = ["train_colorizer.py", "--net", "1", "--size", "32", "--augment", "4", "--batch-size", "8", "--device", "cpu"]


def train(split, out, *extra):
    return subprocess.Popen([sys.executable, *RUN, "--data", str(split), "--out", str(out), *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished_epochs(path):
    try:
        return load_checkpoint(path)["epoch"]
    except Exception:
        return 0


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_identical(tiny_split, tmp_path):
    straight = train(tiny_split, tmp_path / "straight", "--epochs", "5")
    assert straight.wait(timeout=300) == 0, straight.stderr.read()
    victim = train(tiny_split, tmp_path / "killed", "--epochs", "5")
    deadline = time.time() + 300
    while finished_epochs(tmp_path / "killed" / "last.pt") < 2 and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    done = finished_epochs(tmp_path / "killed" / "last.pt")
    assert 2 <= done < 5 and not (tmp_path / "killed" / "model.pt").exists()
    resumed = train(tiny_split, tmp_path / "killed", "--epochs", "5", "--resume", str(tmp_path / "killed" / "last.pt"))
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    a = load_checkpoint(tmp_path / "straight" / "model.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "killed" / "model.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_sigint_keeps_last_epoch_and_says_how_to_resume(tiny_split, tmp_path):
    run = train(tiny_split, tmp_path / "run", "--epochs", "200")
    deadline = time.time() + 120
    while finished_epochs(tmp_path / "run" / "last.pt") < 1 and run.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=60) == 130
    err = run.stderr.read()
    assert "--resume" in err and "Traceback" not in err and finished_epochs(tmp_path / "run" / "last.pt") >= 1


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_epoch(tiny_split, tmp_path, monkeypatch, capsys):
    from train_colorizer import main as colorizer_main

    calls, real_loss = [0], Colorizer.loss

    def poisoned(self, output, target):
        calls[0] += self.training
        loss = real_loss(self, output, target)
        return loss * float("nan") if calls[0] > 8 else loss  # epoch 1 is 8 steps; epoch 2 goes bad

    monkeypatch.setattr(Colorizer, "loss", poisoned)
    with pytest.raises(SystemExit) as e:
        colorizer_main([*RUN[1:], "--data", str(tiny_split), "--out", str(tmp_path / "r"), "--epochs", "3"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "loss became nan in epoch 2" in err and err.count("\n") == 1
    state = load_checkpoint(tmp_path / "r" / "last.pt")
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["state_dict"].values())


def test_resume_with_other_architecture_is_refused(tiny_split, tmp_path, capsys):
    from train_colorizer import main as colorizer_main

    save_checkpoint(tmp_path / "other.pt", Colorizer((4, 4, 4, 4, 4)), epoch=1)
    with pytest.raises(SystemExit) as e:
        colorizer_main([*RUN[1:], "--data", str(tiny_split), "--out", str(tmp_path / "r"), "--epochs", "2",
                        "--resume", str(tmp_path / "other.pt")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "other.pt" in err and "the flags of the run" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_fails_before_training(tiny_split, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    run = train(tiny_split, locked / "out", "--epochs", "1")
    assert run.wait(timeout=60) == 2 and "cannot write" in run.stderr.read()


def test_output_that_is_a_file_fails_before_training(tiny_split, tmp_path, capsys):
    from train_colorizer import main as colorizer_main

    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(SystemExit) as e:
        colorizer_main([*RUN[1:], "--data", str(tiny_split), "--out", str(tmp_path / "taken" / "out"), "--epochs", "1"])
    captured = capsys.readouterr()
    assert e.value.code == 2 and "cannot write output" in captured.err and "epoch" not in captured.out + captured.err


def test_paths_with_spaces_and_non_ascii_work_everywhere(tiny_split, tmp_path):
    import shutil

    from common.files import split_parts
    from split_data import main as split_main
    from test_colorizer import main as evaluate_main
    from train_colorizer import main as colorizer_main

    odd = tmp_path / "my phötos ünï"
    (odd / "all").mkdir(parents=True)
    for photo in split_parts(tiny_split)["train"]:
        shutil.copy(photo, odd / "all")
    split_main(["--src", str(odd / "all"), "--out", str(odd / "split ä"), "--test-size", "0.25"])
    colorizer_main(["--data", str(odd / "split ä"), "--out", str(odd / "rün 1"), "--epochs", "1", "--net", "1",
                    "--size", "32", "--augment", "2", "--batch-size", "8", "--device", "cpu"])
    for name in ("model.pt", "last.pt", "loss.png"):
        assert (odd / "rün 1" / name).is_file()
    evaluate_main(["--checkpoint", str(odd / "rün 1" / "model.pt"), "--data", str(odd / "split ä"),
                   "--out", str(odd / "tëst out")])
    photo = odd / "all" / sorted(p.name for p in (odd / "all").iterdir())[0]
    renamed = photo.with_name("grand mère 1952.png")
    photo.rename(renamed)
    colorize_main([str(renamed), "-o", str(odd / "cölor out"), "--checkpoint", str(odd / "rün 1" / "model.pt")])
    assert (odd / "cölor out" / "grand mère 1952_color.png").is_file()


def encoded(fmt):
    img = made_up_image(np.random.default_rng(0), 24)
    return cv2.imencode(fmt, img)[1].tobytes()


SEEDS = [encoded(".png"), encoded(".jpg"), encoded(".bmp"), encoded(".tiff"), encoded(".webp")]


@st.composite
def damaged_images(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    kind = draw(st.sampled_from(["truncate", "mutate", "random"]))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if kind == "random":
        return draw(st.binary(max_size=2048))
    for _ in range(draw(st.integers(1, 20))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=damaged_images(), suffix=st.sampled_from([".png", ".jpg", ".tif", ".bmp", ".webp"]))
def test_fuzz_loader_gives_an_image_or_a_clear_error(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        img = read_image(path)
    except ImageError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    assert img.dtype in (np.uint8, np.uint16) and img.ndim in (2, 3) and img.size > 0


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.pt"
    save_checkpoint(path, Colorizer((4, 4, 4, 4, 4)), args={"size": 32})
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=damaged_images())
def test_fuzz_colorize_never_crashes(tmp_path, small_model, data):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    (src / "x.png").write_bytes(data)
    err = io.StringIO()
    try:
        sys.stderr, saved = err, sys.stderr
        colorize_main([str(src), "-o", str(tmp_path / "out"), "--checkpoint", str(small_model), "--overwrite"])
        code = 0
    except SystemExit as e:
        code = e.code
    finally:
        sys.stderr = saved
    assert code in (0, 1) and "Traceback" not in err.getvalue()
    if code == 0:
        assert (tmp_path / "out" / "x_color.png").is_file()
    else:
        assert "x.png" in err.getvalue()


def test_a_last_pt_from_before_step_timing_or_a_validation_slice_resumes(tiny_split, tmp_path):
    """Older last.pt files have no step_seconds; runs without --val-fraction no val_loss."""
    from common.checkpoint import write_state
    from train_colorizer import main as colorizer_main

    args = ["--data", str(tiny_split), "--net", "1", "--size", "32", "--augment", "2", "--batch-size", "8",
            "--device", "cpu"]
    colorizer_main([*args, "--out", str(tmp_path / "a"), "--epochs", "1"])
    state = load_checkpoint(tmp_path / "a" / "last.pt")
    del state["history"]["step_seconds"]
    write_state(tmp_path / "a" / "last.pt", state)
    colorizer_main([*args, "--out", str(tmp_path / "a"), "--epochs", "2", "--val-fraction", "0.25",
                    "--resume", str(tmp_path / "a" / "last.pt")])
    history = load_checkpoint(tmp_path / "a" / "last.pt")["history"]
    assert len(history["train_loss"]) == 2 and len(history["step_seconds"]) == len(history["val_loss"]) == 1
