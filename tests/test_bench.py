import json

import pytest

from bench import main as bench_main
from common.models import PRESETS, Colorizer


@pytest.mark.slow
def test_bench_measures_all_three_and_writes_json(tiny_split, tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench_main(["--data", str(tiny_split), "--net", "1", "--batch-size", "8", "--steps", "2", "--warmup", "1",
                "--device", "cpu", "--full-run", "--full-run-epochs", "1", "--json", str(out)])
    figures = json.loads(out.read_text())
    for key in ("model_only_sps", "pipeline_sps", "naive_sps", "peak_memory_mb"):
        assert figures[key] > 0, key
    assert figures["device"].startswith("cpu")
    assert figures["full_run_epochs"] == 1 and figures["full_run_seconds"] > 0 and figures["full_run_test_mse"] > 0
    printed = capsys.readouterr().out
    for label, key in (("(1) model step on ready tensors", "model_only_sps"), ("(2) full step, our pipeline",
                                                                              "pipeline_sps")):
        assert f"{label:<44}{figures[key]:>12.0f}" in printed  # the table shows what the JSON holds
    assert "naive" in printed and "full run (make train): 1 epochs" in printed
    assert figures["full_run_epoch_seconds"] == pytest.approx(
        figures["full_run_step_seconds"] + figures["full_run_extras_seconds"])
    assert 0 < figures["full_run_step_seconds"] < figures["full_run_epoch_seconds"] < figures["full_run_seconds"]


@pytest.mark.slow
def test_bench_times_the_unet_step_that_train_colorizer_runs(tiny_split, tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench_main(["--data", str(tiny_split), "--net", "unet", "--amp", "bf16", "--batch-size", "4", "--steps", "1",
                "--warmup", "1", "--rounds", "1", "--device", "cpu", "--no-full-run", "--json", str(out)])
    figures = json.loads(out.read_text())
    unet = sum(p.numel() for p in Colorizer(PRESETS[3], unet=True).parameters())
    assert figures["parameters"] == unet != sum(p.numel() for p in Colorizer(PRESETS[3]).parameters())
    assert figures["model_only_sps"] > 0
    assert f"Network unet ({unet:,} parameters), batch 4, amp bf16" in capsys.readouterr().out


def test_unwritable_json_path_is_refused_before_measuring(tiny_split, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as stop:
        bench_main(["--data", str(tiny_split), "--device", "cpu", "--json", str(tmp_path / "file" / "bench.json")])
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert "cannot write output there" in captured.err and "samples/s" not in captured.out
