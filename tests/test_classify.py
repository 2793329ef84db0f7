import json
import shutil
from itertools import product

import cv2
import numpy as np
import pytest
import torch

from common.checkpoint import load_checkpoint, model_from_checkpoint
from common.color import ab_bins, annealed_mean, mode, neighbour_table, rebalance_weights, soft_encode
from common.evaluation import chosen_decoding
from split_data import main as split_main
from test_colorizer import main as evaluate_main
from train_colorizer import main as colorizer_main

SMALL = ["--size", "32", "--augment", "4", "--batch-size", "8", "--device", "cpu"]


def round_trip_error(L, a, b):
    lab = np.array([[[L, a, b]]], np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.abs(cv2.cvtColor(np.clip(rgb, 0, 1), cv2.COLOR_RGB2Lab) - lab).max()


def test_bins_are_deterministic_and_in_gamut_for_some_L():
    centres = ab_bins()
    ab_bins.cache_clear()
    assert np.array_equal(centres, ab_bins()) and len(centres) == 228
    assert len(np.unique(centres, axis=0)) == len(centres) and (np.abs(centres) % 10 == 0).all()
    L = np.linspace(1, 99, 99)
    for a, b in centres:  # OpenCV, not our own inverse, is the judge: a colour in gamut survives the round trip
        assert min(round_trip_error(l_, a, b) for l_ in L) < 0.5, (a, b)
    assert min(round_trip_error(l_, 100, -100) for l_ in L) > 5  # an excluded corner really is outside


@pytest.fixture
def centres():
    return torch.tensor(ab_bins(), dtype=torch.float32)


def test_soft_encoding_sums_to_one_and_peaks_on_the_true_bin(centres):
    table = neighbour_table(centres)
    true = torch.randint(len(centres), (3, 4, 5))
    ab = centres[true].permute(0, 3, 1, 2) + torch.empty(3, 2, 4, 5).uniform_(-2, 2)
    index, weights = soft_encode(ab, centres, table)
    assert index.shape == weights.shape == (3, 4, 5, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4, 5))
    top = index.gather(-1, weights.argmax(-1, keepdim=True))[..., 0]
    assert torch.equal(top, true) and (weights.max(-1).values > 0.5).all()


def test_neighbour_table_keeps_the_mass_of_the_exact_nearest_bins(centres):
    ab = torch.empty(1, 2, 64, 64).uniform_(-110, 110)
    index, _ = soft_encode(ab, centres, neighbour_table(centres))
    points = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    distance = torch.cdist(points, centres)
    exact = distance.topk(5, largest=False).values
    ours = distance.gather(1, index.reshape(-1, 5))
    mass = lambda d: torch.exp(-(d**2) / 50).sum(1)  # noqa: E731
    assert (mass(ours) >= 0.97 * mass(exact)).all()


def test_rebalancing_has_unit_expectation_and_favours_rare_bins(centres):
    p = torch.rand(len(centres)) ** 4
    p /= p.sum()
    weights, smoothed = rebalance_weights(p, centres, lam=0.5)
    assert torch.isclose((smoothed * weights).sum(), torch.tensor(1.0))
    order = smoothed.argsort()
    assert (weights[order].diff() <= 1e-6).all() and weights[order[0]] > weights[order[-1]]
    flat, _ = rebalance_weights(p, centres, lam=1.0)
    assert torch.allclose(flat, torch.ones(len(centres)), atol=1e-5)


def test_annealed_mean_spans_expectation_to_mode(centres):
    logits = torch.randn(2, len(centres), 3, 3) * 3
    logits.scatter_add_(1, logits.argmax(1, keepdim=True), torch.ones(2, 1, 3, 3))  # a clear winner per pixel
    expectation = torch.einsum("nqhw,qc->nchw", logits.softmax(1), centres)
    assert torch.allclose(annealed_mean(logits, centres, 1.0), expectation, atol=1e-4)
    assert torch.allclose(annealed_mean(logits, centres, 0.01), mode(logits, centres), atol=1e-2)
    assert torch.equal(annealed_mean(logits, centres, 0), mode(logits, centres))


@pytest.mark.slow
def test_short_classifier_run_lowers_loss_and_sweeps_temperature(tiny_split, tmp_path, capsys):
    out = tmp_path / "cls"
    colorizer_main(["--data", str(tiny_split), "--out", str(out), "--epochs", "3", "--net", "2",
                    "--classifier", *SMALL])
    h = json.loads((out / "metrics.json").read_text())["history"]
    assert h["train_loss"][-1] < h["train_loss"][0]
    state = load_checkpoint(out / "model.pt")
    model = model_from_checkpoint(state)
    assert state["model"] == "classifier" and model.weights.std() > 0  # the prior was fitted and saved
    evaluate_main(["--checkpoint", str(out / "model.pt"), "--data", str(tiny_split), "--out", str(tmp_path / "t"),
                   "--temperature", "0.38", "1"])
    sweep = json.loads((tmp_path / "t" / "sweep.json").read_text())
    assert [m["temperature"] for m in sweep.values()] == [0.38, 1.0]
    shown = capsys.readouterr().out
    assert "at T=0.38" in shown and "no decoding is chosen on the test split" in shown
    assert not (tmp_path / "t" / "decoding.json").exists()
    split_main(["--within", str(tiny_split), "--out", str(tmp_path / "val"), "--test-size", "0.25", "--size", "32"])
    evaluate_main(["--checkpoint", str(out / "model.pt"), "--data", str(tmp_path / "val"), "--out",
                   str(tmp_path / "v"), "--temperature", "0.38", "1", "--mirror", "off", "on"])
    shown = capsys.readouterr().out
    assert "on 4 validation images" in shown and "at T=1 mirrored" in shown
    sweep = json.loads((tmp_path / "v" / "sweep.json").read_text())
    assert [(m["temperature"], m["mirror"]) for m in sweep.values()] == [(0.38, False), (0.38, True), (1.0, False),
                                                                          (1.0, True)]
    assert sweep["T=1 mirrored"]["mse_ab"] != sweep["T=1 plain"]["mse_ab"]
    chosen = json.loads((tmp_path / "v" / "decoding.json").read_text())
    assert list(chosen) == [str(out / "model.pt")]
    decodings = [{"temperature": t, "mirror": m} for t, m in product((0.38, 1.0), (False, True))]
    assert chosen[str(out / "model.pt")] in decodings
    store_a_decoding(out / "model.pt", tiny_split, tmp_path, capsys)


def store_a_decoding(trained, tiny_split, tmp_path, capsys):
    """--store: refused on the validation split, then the decoding (not the file's own) and its test metrics
    written, weights kept."""
    decoding = {"temperature": 1.0, "mirror": True}
    stored = tmp_path / "stored.pt"
    shutil.copy(trained, stored)
    flags = ["--temperature", str(decoding["temperature"]), "--mirror", "on" if decoding["mirror"] else "off"]
    with pytest.raises(SystemExit):
        evaluate_main(["--checkpoint", str(stored), "--data", str(tmp_path / "val"), "--out", str(tmp_path / "r"),
                       *flags, "--store"])
    assert "is a validation split" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate_main(["--checkpoint", str(stored), "--temperature", "0.38", "1", "--store"])
    assert "one decoding into one checkpoint" in capsys.readouterr().err
    assert load_checkpoint(stored)["metrics"] == load_checkpoint(trained)["metrics"]
    evaluate_main(["--checkpoint", str(stored), "--data", str(tiny_split), "--out", str(tmp_path / "s"), *flags,
                   "--store"])
    measured = json.loads((tmp_path / "s" / "metrics.json").read_text())["metrics"]
    before, after = load_checkpoint(trained), load_checkpoint(stored)
    assert {k: after["config"][k] for k in decoding} == decoding
    assert after["metrics"]["mse_ab"] == measured["mse_ab"] != before["metrics"]["mse_ab"]
    assert after["metrics"]["train_seconds"] == before["metrics"]["train_seconds"]
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())
    evaluate_main(["--checkpoint", str(stored), "--data", str(tiny_split), "--out", str(tmp_path / "own")])
    own = json.loads((tmp_path / "own" / "metrics.json").read_text())["metrics"]
    assert own["mse_ab"] == pytest.approx(measured["mse_ab"])  # the file now decodes as stored, with no flags


def sweep_of(truth, *rows):
    return [{"temperature": t, "mirror": m, "mse_ab": mse, "colourfulness": c, "colourfulness_truth": truth}
            for t, m, mse, c in rows]


def test_the_decoding_rule_takes_the_lowest_ab_mse_within_2_percent_of_the_truths_colourfulness():
    sweep = sweep_of(30.0, (0.2, False, 10.0, 33.0), (0.5, False, 8.0, 30.5), (0.8, False, 7.0, 29.5),
                     (1.0, False, 6.5, 29.0))
    assert chosen_decoding(sweep) == {"temperature": 0.8, "mirror": False}  # 1.0 is 3.3% duller than the truth
    assert chosen_decoding(sweep[:2]) == {"temperature": 0.5, "mirror": False}
    mirrored = sweep + sweep_of(30.0, (0.8, True, 6.8, 29.45), (1.0, True, 6.3, 28.9))
    assert chosen_decoding(mirrored) == {"temperature": 0.8, "mirror": True}
    dull = sweep_of(30.0, (0.2, False, 10.0, 28.0), (0.6, False, 8.0, 27.0), (1.0, True, 6.5, 26.0))
    assert chosen_decoding(dull) == {"temperature": 0.2, "mirror": False}  # none within 2%: the nearest colourfulness
    assert chosen_decoding([{k: v for k, v in m.items() if k != "temperature"} for m in mirrored[-2:]]) == {
        "mirror": True}  # a regression model's decoding is its mirror alone
