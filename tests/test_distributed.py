import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from common import distributed
from common.checkpoint import load_checkpoint
from common.data import StreamedBatches, TrainBatches
from common.models import Colorizer
from common.prepare import prepared_part
from split_data import main as split_main
from test_colorizer import main as evaluate_main
from tests.conftest import ROOT

FEATURES = (4, 4, 8, 8, 8)


def test_ranks_take_disjoint_slices_that_cover_each_global_batch():
    images = torch.randint(0, 256, (7, 3, 16, 16), dtype=torch.uint8)
    whole = list(TrainBatches(images, batch_size=6, augment=3, size=16, seed=1).plan(2))
    ranks = [list(TrainBatches(images, batch_size=6, augment=3, size=16, seed=1, rank=r, world=2).plan(2))
             for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(whole) == 4  # 21 samples: 3 batches of 6 and one of 3
    four = TrainBatches(images, batch_size=6, augment=3, size=16, seed=1, rank=0, world=4)
    assert len(four) == len(list(four.plan(2))) == 3  # the last batch of 3 cannot feed 4 ranks: dropped
    assert len(TrainBatches(images, batch_size=6, augment=3, size=16, seed=1, world=2)) == 4
    for (index, params), (i0, p0), (i1, p1) in zip(whole, *ranks):
        assert torch.equal(torch.cat([i0, i1]), index) and torch.equal(torch.cat([p0, p1]), params)
        assert abs(len(i0) - len(i1)) <= 1
    seen = [torch.cat([i for i, _ in r]) for r in ranks]
    assert sum(len(s) for s in seen) == 21


def step(model, batches, optimizer):
    """One optimizer step on the mean loss over equal-sized batches, each normalised on its own."""
    optimizer.zero_grad()
    loss = sum(model.loss(model(L), ab) for L, ab in batches) / len(batches)
    loss.backward()
    optimizer.step()


def global_batch():
    g = torch.Generator().manual_seed(0)
    return torch.rand(8, 1, 32, 32, generator=g), torch.randn(8, 2, 32, 32, generator=g) * 20


def ddp_worker(rank, init_file, result):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = Colorizer(FEATURES)
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    L, ab = (t.chunk(2)[rank] for t in global_batch())
    optimizer.zero_grad()
    model.loss(ddp(L), ab).backward()
    optimizer.step()
    if rank == 0:
        torch.save(model.state_dict(), result)
    del ddp
    distributed.teardown()
    # The step is checked and saved. About one full suite in five, a spawned rank then aborted while the
    # interpreter shut down ("terminate called without an active exception", a C++ thread destroyed unjoined;
    # never in 20 runs of this test alone, nor in the torchrun test): leave without that shutdown.
    sys.stdout.flush()
    os._exit(0)


@pytest.mark.slow
def test_one_ddp_step_matches_one_single_process_step(tmp_path):
    mp.spawn(ddp_worker, args=(str(tmp_path / "init"), str(tmp_path / "ddp.pt")), nprocs=2)
    torch.manual_seed(0)
    model = Colorizer(FEATURES)
    L, ab = global_batch()
    # Without SyncBatchNorm each rank normalises its own half: the reference does the same.
    step(model, list(zip(L.chunk(2), ab.chunk(2))), torch.optim.Adam(model.parameters(), lr=0.01))
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    moved = 0.0
    for name, param in model.named_parameters():
        assert torch.allclose(param, ddp[name], atol=1e-6), name
        moved = max(moved, (param - Colorizer(FEATURES).state_dict()[name]).abs().max().item())
    assert moved > 1e-3  # the step really changed the weights


def streamed_worker(rank, init_file, split, out):
    """A rank reading its share of the first global batch from the prepared files and taking one DDP step."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    photos = prepared_part(split, "train", 32)
    L, ab = next(StreamedBatches(photos, batch_size=10, augment=2, size=32, seed=7, rank=rank, world=2).epoch(0))
    torch.manual_seed(0)
    model = Colorizer(FEATURES)
    ddp = DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.loss(ddp(L), ab).backward()
    optimizer.step()
    torch.save({"L": L, "ab": ab, "weights": model.state_dict()}, out / f"rank{rank}.pt")
    del ddp
    distributed.teardown()
    sys.stdout.flush()
    os._exit(0)  # as ddp_worker


@pytest.mark.slow
def test_two_ranks_stream_disjoint_halves_of_each_global_batch_and_step_as_one_process(tmp_path):
    from tests.test_prepare import made_up_photos

    made_up_photos(tmp_path / "src", 20, shape=(32, 48))
    split_main(["--src", str(tmp_path / "src"), "--out", str(tmp_path / "split"), "--size", "32", "--test-size",
                "0.2", "--workers", "1"])
    mp.spawn(streamed_worker, args=(str(tmp_path / "init"), tmp_path / "split", tmp_path), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    photos = prepared_part(tmp_path / "split", "train", 32)
    L, ab = next(StreamedBatches(photos, batch_size=10, augment=2, size=32, seed=7).epoch(0))
    assert [len(r["L"]) for r in ranks] == [5, 5]
    assert torch.equal(torch.cat([r["L"] for r in ranks]), L) and torch.equal(torch.cat([r["ab"] for r in ranks]), ab)
    torch.manual_seed(0)
    model = Colorizer(FEATURES)
    step(model, list(zip(L.chunk(2), ab.chunk(2))), torch.optim.Adam(model.parameters(), lr=0.01))
    for name, param in model.named_parameters():
        assert torch.allclose(param, ranks[0]["weights"][name], atol=1e-6), name


@pytest.mark.slow
def test_torchrun_gloo_two_processes_trains_and_rank_zero_writes(tiny_split, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "train_colorizer.py", "--data", str(tiny_split), "--out", str(out), "--epochs", "1",
                          "--net", "1", "--size", "32", "--augment", "4", "--batch-size", "8", "--device", "cpu",
                          "--val-fraction", "0.25"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("epoch 1/1") == 1 and run.stdout.count("wrote") == 1 and "2 processes" in run.stdout
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "last.pt", "loss.json", "loss.png", "metrics.json",
                                                   "model.pt", "samples", "test"]
    assert load_checkpoint(out / "model.pt")["model"] == "colorizer"
    evaluate_main(["--checkpoint", str(out / "model.pt"), "--data", str(tiny_split), "--out", str(tmp_path / "t")])
    assert (tmp_path / "t" / "metrics.json").is_file()
