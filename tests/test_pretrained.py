import json

import pytest
import torch

from colorize import parse_args as colorize_args
from common.checkpoint import load_checkpoint, load_model
from common.files import default_model
from test_colorizer import main as evaluate_main
from tests.conftest import ROOT

PRETRAINED = ROOT / "pretrained"


@pytest.mark.parametrize("name,model", [("network3", "colorizer"), ("tanh", "colorizer"), ("classifier", "classifier"),
                                        ("unet", "colorizer"), ("unet_classifier", "classifier")])
def test_shipped_weights_load_with_their_metrics(name, model):
    state = load_checkpoint(PRETRAINED / f"{name}.pt")
    assert state["model"] == model and state["metrics"]["images"] == 75
    assert state["config"]["features"] == [16, 32, 64, 128, 256]


def test_the_shipped_ensemble_holds_the_two_shipped_unets_as_they_are():
    ensemble = load_checkpoint(PRETRAINED / "unet_ensemble.pt")
    members = [load_model(PRETRAINED / name, "cpu")[0] for name in ("unet.pt", "unet_classifier.pt")]
    assert ensemble["config"]["members"] == [{"model": m.name, "config": m.config} for m in members]
    assert ensemble["metrics"]["images"] == 75 and ensemble["args"]["size"] == 128
    for i, member in enumerate(members):
        assert all(torch.equal(ensemble["state_dict"][f"members.{i}.{k}"], v) for k, v in member.state_dict().items())


def evaluate(name, split, tmp_path, *extra):
    evaluate_main(["--checkpoint", str(PRETRAINED / f"{name}.pt"), "--data", str(split), "--out", str(tmp_path),
                   "--device", "cpu", *extra])
    return json.loads((tmp_path / "metrics.json").read_text())["metrics"]


def test_shipped_network3_beats_the_report_from_written_pngs(real_split, tmp_path):
    metrics = evaluate("network3", real_split, tmp_path)
    assert len(list((tmp_path / "images").glob("*.png"))) == 75
    assert metrics["mse_ab"] <= 15 < 22.19
    recorded = load_checkpoint(PRETRAINED / "network3.pt")["metrics"]
    assert metrics["mse_ab"] == pytest.approx(recorded["mse_ab"], abs=0.01)


def test_shipped_tanh_reports_scaled_loss_below_the_report(real_split, tmp_path):
    assert evaluate("tanh", real_split, tmp_path)["test_loss"] < 0.0013


def test_shipped_classifier_is_accurate_and_as_colourful_as_the_truth(real_split, tmp_path):
    metrics = evaluate("classifier", real_split, tmp_path, "--temperature", "0.38")
    assert metrics["mse_ab"] <= 14
    assert abs(metrics["colourfulness"] - metrics["colourfulness_truth"]) <= 0.05 * metrics["colourfulness_truth"]


def test_the_default_is_the_first_automatic_model_shipped_and_the_one_asked_for_otherwise(tmp_path):
    assert colorize_args(["photo.jpg", "-o", "out"]).checkpoint == PRETRAINED / "unet_ensemble.pt"
    assert colorize_args(["photo.jpg", "-o", "out", "--hint", "1,1,red"]).checkpoint == PRETRAINED / "hints.pt"
    assert colorize_args(["photo.jpg", "-o", "out", "--confidence"]).checkpoint == PRETRAINED / "unet_classifier.pt"
    assert colorize_args(["photo.jpg", "-o", "out", "--temperature", "0.3"]).checkpoint == \
        PRETRAINED / "unet_classifier.pt"  # a temperature, like a confidence map, needs bins
    for name in ("unet.pt", "network3.pt", "classifier.pt"):  # a copy of pretrained/ without the default
        (tmp_path / name).write_bytes(b"")
    assert default_model(tmp_path) == tmp_path / "unet.pt"
    assert default_model(tmp_path, bins=True) == tmp_path / "classifier.pt"  # a confidence map needs bins
    assert default_model(tmp_path, hints=True) == tmp_path / "unet.pt"


def shipped_against_network3(name, split, tmp_path):
    """`name`'s metrics from the PNGs, checked against those it recorded and against network3.pt's on the same
    pictures: network3's ab MSE minus `name`'s, its interval above 0."""
    evaluate_main(["--checkpoint", str(PRETRAINED / f"{name}.pt"), str(PRETRAINED / "network3.pt"), "--data",
                   str(split), "--out", str(tmp_path), "--device", "cpu"])
    metrics = json.loads((tmp_path / name / "metrics.json").read_text())["metrics"]
    assert metrics["mse_ab"] == pytest.approx(load_checkpoint(PRETRAINED / f"{name}.pt")["metrics"]["mse_ab"], abs=0.01)
    paired = json.loads((tmp_path / "comparison.json").read_text())["network3"]["mse_ab"]
    assert paired["difference"] > 0 and paired["ci95"][0] > 0
    return metrics


def test_shipped_default_meets_the_three_marks_set_for_it(real_split, tmp_path):
    metrics = shipped_against_network3("unet_ensemble", real_split, tmp_path)
    assert metrics["mse_ab"] <= 7.0
    assert abs(metrics["colourfulness"] - metrics["colourfulness_truth"]) <= 0.02 * metrics["colourfulness_truth"]


def test_shipped_unet_classifier_beats_network3_and_is_as_colourful_as_the_truth(real_split, tmp_path):
    metrics = shipped_against_network3("unet_classifier", real_split, tmp_path)
    assert abs(metrics["colourfulness"] - metrics["colourfulness_truth"]) <= 0.02 * metrics["colourfulness_truth"]


def test_shipped_unet_is_more_accurate_than_network3_on_the_same_pictures(real_split, tmp_path):
    shipped_against_network3("unet", real_split, tmp_path)
