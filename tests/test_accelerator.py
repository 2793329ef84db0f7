"""The recipe CUDA runs by default (torch pipeline, bf16 autocast, fused Adam), exercised on the CPU through
the explicit flags, and on CUDA itself wherever a GPU is present."""
import json

import numpy as np
import pytest
import torch

from common.checkpoint import load_checkpoint
from common.color import split_lab
from common.data import PIPELINES, TrainBatches, crop_params
from common.inference import emulated_bf16
from test_colorizer import main as evaluate_main
from train_colorizer import main as colorizer_main

RECIPE = ["--pipeline", "torch", "--amp", "bf16", "--fused", "on"]
SMALL = ["--size", "32", "--augment", "4", "--batch-size", "8", "--net", "2"]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def run(split, out, device, *flags, epochs=3):
    colorizer_main(["--data", str(split), "--out", str(out), "--epochs", str(epochs), "--device", device, *SMALL,
                    *flags])
    return json.loads((out / "metrics.json").read_text())


def check_run(result, out, split, tmp_path, device="cpu"):
    """Loss fell, every artefact is there, and the model scores again as its run scored it (on the device it
    trained on: bf16 autocast on CUDA moves ab MSE by about 0.2% against a float32 CPU evaluation)."""
    losses = result["history"]["train_loss"]
    assert losses[-1] < losses[0]
    assert sorted(p.name for p in out.glob("samples/*.png")) == [f"epoch_{e:03d}.png" for e in range(1, 4)]
    for name in ("model.pt", "last.pt", "loss.png", "metrics.json", "test/grid.png", "test/per_picture.csv"):
        assert (out / name).is_file(), name
    assert load_checkpoint(out / "last.pt")["epoch"] == 3
    evaluate_main(["--checkpoint", str(out / "model.pt"), "--data", str(split), "--out", str(tmp_path / "eval"),
                   "--device", device])
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())["metrics"]
    assert evaluated["mse_ab"] == pytest.approx(result["metrics"]["mse_ab"], rel=1e-3)


@pytest.mark.slow
def test_accelerator_recipe_trains_on_the_cpu(tiny_split, tmp_path):
    out = tmp_path / "recipe"
    result = run(tiny_split, out, "cpu", *RECIPE)
    args = result["args"]
    assert (args["pipeline"], args["amp"], args["fused"]) == ("torch", "bf16", "on")
    check_run(result, out, tiny_split, tmp_path)
    default = run(tiny_split, tmp_path / "default", "cpu", epochs=1)
    assert default["history"]["train_loss"][0] != result["history"]["train_loss"][0]  # bf16 really changed the sums


def test_the_pipelines_serve_the_same_batches(tiny_split):
    from common.prepare import prepared_part

    images = prepared_part(tiny_split, "train", 32).stacked()
    torch_way = TrainBatches(images, 8, 2, 32, seed=3, pipeline="torch")
    opencv_way = TrainBatches(images, 8, 2, 32, seed=3, pipeline="opencv")
    assert (torch_way.pipeline, opencv_way.pipeline) == ("torch", "opencv")
    for (L1, ab1), (L2, ab2) in zip(torch_way.epoch(0), opencv_way.epoch(0), strict=True):
        assert (L1 - L2).abs().max() * 100 < 1.0 and (ab1 - ab2).abs().max() < 1.5


@cuda
def test_cuda_torch_pipeline_matches_the_cpu_one():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (50, 64, 64, 3), dtype=np.uint8))
    params = crop_params(len(images), torch.Generator().manual_seed(1))
    warp, to_lab = PIPELINES["torch"]
    L_gpu, ab_gpu = split_lab(to_lab(warp(images.cuda(), params.cuda(), 48)))
    warp, to_lab = PIPELINES["opencv"]
    L_cpu, ab_cpu = split_lab(to_lab(warp(images, params, 48)))
    assert (L_gpu.cpu() - L_cpu).abs().max() * 100 < 1.0 and (ab_gpu.cpu() - ab_cpu).abs().max() < 2.0
    assert (ab_gpu.cpu() - ab_cpu).abs().mean() < 0.2


@cuda
def test_cuda_default_recipe_trains_and_writes_in_the_background(tiny_split, tmp_path):
    out = tmp_path / "cuda"
    result = run(tiny_split, out, "cuda")
    assert result["metrics"]["device"].startswith("cuda")
    check_run(result, out, tiny_split, tmp_path, "cuda")


def test_graphs_on_a_cpu_is_one_clear_error(tiny_split, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        run(tiny_split, tmp_path / "x", "cpu", "--graphs", "on", epochs=1)
    assert e.value.code == 2 and "--graphs on needs CUDA" in capsys.readouterr().err


@cuda
def test_graphed_steps_make_the_same_updates_as_eager_steps():
    """Same weights after full batches, a smaller last batch and a learning-rate change between epochs.

    Both sides use the same (capturable, fused) Adam and deterministic cuDNN kernels: Adam divides by the
    root of the squared gradients, so where a gradient is near 0 the order of a kernel's atomic sums alone
    can move a weight by a whole step, and only the graph itself would be left untested.
    """
    import copy

    from common.engine import GraphedStep, make_optimizer, make_scheduler, train_step
    from common.models import Colorizer

    device = torch.device("cuda")
    flags = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        torch.manual_seed(0)
        graphed = Colorizer((8, 16, 32, 64, 128)).to(device, memory_format=torch.channels_last)
        eager = copy.deepcopy(graphed)
        opt_g, opt_e = (make_optimizer(m, 0.01, device, graphed=True) for m in (graphed, eager))
        sched_g, sched_e = make_scheduler(opt_g, "cosine", 3), make_scheduler(opt_e, "cosine", 3)
        step = GraphedStep(graphed, opt_g, device, "off")
        batches = [(torch.rand(n, 1, 32, 32, device=device), 30 * torch.randn(n, 2, 32, 32, device=device))
                   for n in (16, 16, 16, 8)]
        for _ in range(2):
            for L, ab in batches:
                loss_g, loss_e = step(L, ab), train_step(eager, eager, opt_e, L, ab, device, "off")
                assert loss_g.item() == pytest.approx(loss_e.item(), rel=1e-5)
            sched_g.step()
            sched_e.step()
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags
    assert opt_e.param_groups[0]["lr"].item() < 0.01
    assert opt_g.param_groups[0]["lr"].item() == pytest.approx(opt_e.param_groups[0]["lr"].item())
    for (name, a), b in zip(graphed.state_dict().items(), eager.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5, rtol=1e-5), name


@cuda
def test_a_graphed_cuda_run_resumes_on_cuda_and_on_the_cpu(tiny_split, tmp_path):
    out = tmp_path / "cuda"
    run(tiny_split, out, "cuda", "--lr-schedule", "cosine", epochs=2)
    (tmp_path / "epoch2.pt").write_bytes((out / "last.pt").read_bytes())
    for device in ("cuda", "cpu"):
        result = run(tiny_split, out, device, "--lr-schedule", "cosine", "--resume", str(tmp_path / "epoch2.pt"),
                     epochs=3)
        assert len(result["history"]["train_loss"]) == 3 and load_checkpoint(out / "last.pt")["epoch"] == 3


@pytest.mark.parametrize("capabilities, warned", [({"architecture": "x86_64", "avx2": True}, True),
                                                  ({"architecture": "x86_64", "avx512_bf16": True}, False),
                                                  ({"architecture": "x86_64", "amx_bf16": True}, False)])
def test_bf16_on_a_cpu_without_bf16_instructions_is_warned_about(capabilities, warned, tiny_split, tmp_path,
                                                                 monkeypatch, capsys):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    run(tiny_split, tmp_path / "bf16", "cpu", "--amp", "bf16", epochs=1)
    assert ("no bf16 instructions" in capsys.readouterr().err) == warned
    run(tiny_split, tmp_path / "float32", "cpu", "--amp", "off", epochs=1)
    assert "no bf16 instructions" not in capsys.readouterr().err
    assert not emulated_bf16(torch.device("cuda"), "bf16")
