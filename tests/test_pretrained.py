import json

import pytest

from common.checkpoint import load_checkpoint
from test_colorizer import main as evaluate_main
from tests.conftest import ROOT

PRETRAINED = ROOT / "pretrained"


@pytest.mark.parametrize("name,model", [("network3", "colorizer"), ("tanh", "colorizer"), ("classifier", "classifier")])
def test_shipped_weights_load_with_their_metrics(name, model):
    state = load_checkpoint(PRETRAINED / f"{name}.pt")
    assert state["model"] == model and state["metrics"]["images"] == 75
    assert state["config"]["features"] == [16, 32, 64, 128, 256]


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
