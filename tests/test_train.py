import json

import pytest
import torch

from common.checkpoint import load_checkpoint, model_from_checkpoint
from test_colorizer import main as evaluate_main
from train_colorizer import main as colorizer_main
from train_regressor import main as regressor_main

SMALL = ["--size", "32", "--augment", "4", "--batch-size", "8", "--device", "cpu"]


def history(out):
    return json.loads((out / "metrics.json").read_text())["history"]


@pytest.mark.slow
def test_regressor_learns_is_seeded_and_writes_artefacts(tiny_split, tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        regressor_main(["--data", str(tiny_split), "--out", str(out), "--epochs", "6", "--lr", "0.1", *SMALL])
    first, second = history(runs[0]), history(runs[1])
    assert first["train_loss"] == second["train_loss"] and first["test_loss"] == second["test_loss"]
    assert first["train_loss"][-1] < 0.95 * first["train_loss"][0]
    for name in ("model.pt", "last.pt", "loss.png", "loss.json", "metrics.json", "test/grid.png"):
        assert (runs[0] / name).is_file(), name
    metrics = json.loads((runs[0] / "metrics.json").read_text())["metrics"]
    assert metrics["baseline_mean_ab_mse"] > 0 and metrics["images"] == 4
    state = load_checkpoint(runs[0] / "model.pt")
    assert state["model"] == "regressor" and state["metrics"]["test_loss"] == metrics["test_loss"]
    model = model_from_checkpoint(state)
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 2)


def test_colorizer_two_epochs_lower_loss_and_evaluate(tiny_split, tmp_path, capsys):
    out = tmp_path / "net"
    colorizer_main(["--data", str(tiny_split), "--out", str(out), "--epochs", "2", "--net", "2", *SMALL])
    h = history(out)
    assert h["train_loss"][1] < h["train_loss"][0]
    assert len(list((out / "samples").glob("epoch_*.png"))) == 2
    assert len(list((out / "test" / "images").glob("*.png"))) == 4
    evaluate_main(["--checkpoint", str(out / "model.pt"), "--data", str(tiny_split), "--out", str(tmp_path / "t")])
    printed = capsys.readouterr().out
    assert "test loss" in printed and "report: 23.62" in printed
    result = json.loads((tmp_path / "t" / "metrics.json").read_text())["metrics"]
    trained = json.loads((out / "metrics.json").read_text())["metrics"]
    assert result["mse_ab"] == pytest.approx(trained["mse_ab"]) and result["test_loss"] == pytest.approx(
        trained["test_loss"])


@pytest.mark.slow
def test_tanh_run_reports_scaled_loss(tiny_split, tmp_path):
    out = tmp_path / "tanh"
    colorizer_main(["--data", str(tiny_split), "--out", str(out), "--epochs", "1", "--net", "1", "--tanh", *SMALL])
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["loss_units"] == "ab/128 MSE"
    assert metrics["test_loss"] < 0.1 < metrics["mse_ab"]


@pytest.mark.slow
def test_best_checkpoint_is_chosen_on_a_validation_slice_never_on_the_test_split(tiny_split, tmp_path, capsys):
    from common.engine import carve_validation
    from common.prepare import prepared_part

    out = tmp_path / "val"
    colorizer_main(["--data", str(tiny_split), "--out", str(out), "--epochs", "4", "--net", "1", "--lr", "0.05",
                    "--val-fraction", "0.25", *SMALL])
    assert "12 train images x 4 = 48 samples/epoch (memory reader), 4 validation images, 4 test images" in \
        capsys.readouterr().out
    h = history(out)
    best = load_checkpoint(out / "best.pt")
    chosen = max(i for i, v in enumerate(h["val_loss"]) if v == min(h["val_loss"]))
    assert best["epoch"] == chosen + 1 and best["metrics"] == {"val_loss": h["val_loss"][chosen]}
    assert h["val_loss"] != h["test_loss"]
    colorizer_main(["--data", str(tiny_split), "--out", str(tmp_path / "plain"), "--epochs", "1", "--net", "1", *SMALL])
    assert not (tmp_path / "plain" / "best.pt").exists() and "val_loss" not in history(tmp_path / "plain")
    photos = prepared_part(tiny_split, "train", 32)
    train, val = carve_validation(photos, 0.25, seed=3)
    assert len(val) == 4 and sorted(train.names + val.names) == photos.names
    assert carve_validation(photos, 0.25, seed=3)[1].names == val.names
    assert carve_validation(photos, 0.25, seed=4)[1].names != val.names


@pytest.mark.slow
def test_seeds_change_a_run_and_the_same_seed_repeats_it(tiny_split, tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        colorizer_main(["--data", str(tiny_split), "--out", str(tmp_path / name), "--epochs", "2", "--net", "1",
                        "--seed", str(seed), *SMALL])
    a, b, c = (history(tmp_path / n) for n in "abc")
    assert a["train_loss"] == b["train_loss"] and a["test_loss"] == b["test_loss"]
    assert a["train_loss"] != c["train_loss"] and a["test_loss"] != c["test_loss"]


def test_only_the_colorizer_takes_recolour(capsys):
    with pytest.raises(SystemExit) as e:
        regressor_main(["--recolour", "0.5"])
    assert e.value.code == 2 and "--recolour" in capsys.readouterr().err


@pytest.mark.slow
def test_a_compiled_run_makes_the_eager_runs_updates(tiny_split, tmp_path):
    """--compile (torch.compile; on a CPU, inductor's C++ kernels) trains the same model as eager, to within the
    rounding of fused kernels. Its compile takes most of this test's half minute."""
    for name, flags in (("eager", []), ("compiled", ["--compile"])):
        colorizer_main(["--data", str(tiny_split), "--out", str(tmp_path / name), "--epochs", "2", "--net", "1",
                        "--augment", "2", *SMALL[:2], *SMALL[4:], *flags])
    eager, compiled = history(tmp_path / "eager"), history(tmp_path / "compiled")
    assert compiled["train_loss"] == pytest.approx(eager["train_loss"], rel=1e-3)
    assert compiled["test_loss"] == pytest.approx(eager["test_loss"], rel=1e-3)
    L = torch.rand(4, 1, 32, 32)  # biases before a BatchNorm drift apart freely (it cancels them): compare outputs
    with torch.no_grad():
        ab = [model_from_checkpoint(load_checkpoint(tmp_path / name / "model.pt")).eval()(L) for name in
              ("eager", "compiled")]
    assert (ab[0] - ab[1]).abs().max() < 0.05  # ab units: a twentieth of a level


@pytest.mark.slow
def test_averaged_weights_are_kept_scored_and_resumed_exactly(tiny_split, tmp_path, capsys):
    run = ["--data", str(tiny_split), "--net", "1", "--ema", "0.9", *SMALL]
    colorizer_main([*run, "--out", str(tmp_path / "straight"), "--epochs", "4"])
    last = load_checkpoint(tmp_path / "straight" / "last.pt")
    kept = load_checkpoint(tmp_path / "straight" / "model.pt")["state_dict"]
    assert all(torch.equal(kept[k], last["averaged"][k]) for k in kept)  # model.pt holds the average...
    assert any(not torch.equal(kept[k], last["state_dict"][k]) for k in kept)  # ...not the last step's weights
    assert last["averaged_steps"] == 4 * 8  # 4 epochs of 16 images x 4 samples in batches of 8
    colorizer_main([*run, "--out", str(tmp_path / "resumed"), "--epochs", "2"])
    colorizer_main([*run, "--out", str(tmp_path / "resumed"), "--epochs", "4", "--resume",
                    str(tmp_path / "resumed" / "last.pt")])
    again = load_checkpoint(tmp_path / "resumed" / "model.pt")["state_dict"]
    assert all(torch.equal(kept[k], again[k]) for k in kept)
    assert history(tmp_path / "resumed")["test_loss"] == history(tmp_path / "straight")["test_loss"]
    colorizer_main(["--data", str(tiny_split), "--net", "1", *SMALL, "--out", str(tmp_path / "plain"), "--epochs", "1"])
    with pytest.raises(SystemExit):
        colorizer_main([*run, "--out", str(tmp_path / "plain"), "--epochs", "2", "--resume",
                        str(tmp_path / "plain" / "last.pt")])
    assert "holds no averaged weights" in capsys.readouterr().err


@pytest.mark.slow
def test_init_starts_from_a_checkpoints_weights_and_refuses_another_model(tiny_split, tmp_path, capsys):
    run = ["--data", str(tiny_split), "--net", "1", *SMALL]
    colorizer_main([*run, "--out", str(tmp_path / "first"), "--epochs", "4"])
    first = tmp_path / "first" / "model.pt"
    colorizer_main([*run, "--out", str(tmp_path / "tuned"), "--epochs", "1", "--init", str(first)])
    colorizer_main([*run, "--out", str(tmp_path / "fresh"), "--epochs", "1"])
    tuned, fresh, trained = (history(tmp_path / n)["train_loss"] for n in ("tuned", "fresh", "first"))
    assert fresh[0] == trained[0]  # the same seed: without --init the first epoch is the first run's
    assert tuned[0] < trained[2]  # with it, training goes on from where the first run got to
    with pytest.raises(SystemExit):
        colorizer_main([*run[:2], "--net", "2", *SMALL, "--out", str(tmp_path / "other"), "--epochs", "1",
                        "--init", str(first)])
    assert "these flags build" in capsys.readouterr().err
