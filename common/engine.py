"""The one training loop, shared by every model: batches in, checkpoints, figures and metrics out."""
import copy
import functools
import math
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import STARTED, distributed
from .checkpoint import checkpoint_state, plain_args, save_checkpoint, state_for, write_state
from .cli import UserError, keep_freed_memory, resolve_device, seed_everything, warn
from .color import image_ab
from .data import EvalBatches, StreamedBatches, TrainBatches
from .evaluation import evaluate, sample_figure_later, test_loss
from .files import writable_dir
from .inference import autocast, emulated_bf16
from .plots import loss_curve, write_json
from .prepare import default_workers, prepared_part


class DivergedError(UserError):
    """The loss became NaN or infinite."""


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def train_step(net, model, optimizer, L, target, device, amp="auto", cache=True, set_to_none=True):
    """One optimizer step; `net` is the model or its DDP wrapper, `model` knows the loss."""
    with autocast(device, amp, cache):
        output = net(L.contiguous(memory_format=torch.channels_last))
    loss = model.loss(output.float(), target)
    optimizer.zero_grad(set_to_none=set_to_none)
    loss.backward()
    optimizer.step()
    return loss.detach()


class GraphedStep:
    """`train_step` recorded once as a CUDA graph and replayed for every full batch.

    Network 3's step is about 150 small kernels, and on an H100 their launches from Python, not the GPU,
    set the pace (README, speed). The graph is captured at the first batch after three
    warm-up steps, which are then undone (weights, BatchNorm statistics and Adam's state put back), so
    training is the same sequence of updates as eager. A smaller last batch runs eagerly on the same
    gradient tensors.
    """

    def __init__(self, model, optimizer, device, amp):
        self.model, self.optimizer, self.device, self.amp = model, optimizer, device, amp
        self.graph = None

    def __call__(self, L, target):
        if self.graph is None:
            self.capture(L, target)
        if L.shape != self.L.shape:
            return train_step(self.model, self.model, self.optimizer, L, target, self.device, self.amp,
                              set_to_none=False)
        self.L.copy_(L)
        self.target.copy_(target)
        self.graph.replay()
        return self.loss.clone()

    def step(self):
        return train_step(self.model, self.model, self.optimizer, self.L, self.target, self.device, self.amp,
                          cache=False)

    def capture(self, L, target):
        self.L, self.target = L.clone(), target.clone()
        weights = {k: v.clone() for k, v in self.model.state_dict().items()}
        moments = {p: {k: v.clone() for k, v in state.items()} for p, state in self.optimizer.state.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self.step()
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(weights[k])
            for p, state in self.optimizer.state.items():
                for k, v in state.items():
                    if p in moments:
                        v.copy_(moments[p][k])
                    else:
                        v.zero_()  # a fresh Adam: zero moments at step 0
        self.optimizer.zero_grad(set_to_none=True)  # backward in the capture allocates the graph's own grads
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = self.step()


def make_optimizer(model, lr, device, fused="auto", graphed=False):
    """Adam; fused (one kernel for every parameter) on CUDA by default, or wherever asked for. A graphed
    step needs it capturable, with the rate in a tensor so that a schedule reaches the recorded graph."""
    if graphed:
        return torch.optim.Adam(model.parameters(), lr=torch.tensor(lr, device=device), fused=True, capturable=True)
    fused = fused == "on" or (fused == "auto" and device.type == "cuda")
    return torch.optim.Adam(model.parameters(), lr=lr, fused=fused)


def optimizer_state(optimizer):
    """The optimizer's state with plain-number rates, so any kind of Adam can resume from it."""
    state = optimizer.state_dict()
    for group in state["param_groups"]:
        for key in ("lr", "initial_lr"):
            if isinstance(group.get(key), torch.Tensor):
                group[key] = group[key].item()
    return state


def load_optimizer(optimizer, state):
    """`optimizer_state` back, keeping a rate that lives in a tensor in that same tensor."""
    rates = [group["lr"] for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, rate in zip(optimizer.param_groups, rates):
        if isinstance(rate, torch.Tensor):
            rate.fill_(float(group["lr"]))
            group["lr"] = rate


def make_step(net, model, optimizer, device, amp, graphed):
    """The function fit calls per batch: (L, target) -> the batch's loss, on the device."""
    if graphed:
        return GraphedStep(model, optimizer, device, amp)
    return functools.partial(train_step, net, model, optimizer, device=device, amp=amp)


def uses_graphs(graphs, device, compile):
    """auto: on CUDA, for a single process without torch.compile."""
    if graphs == "on" and device.type != "cuda":
        raise UserError("--graphs on needs CUDA; use --graphs auto or off")
    return graphs == "on" or (graphs == "auto" and device.type == "cuda" and not compile
                              and distributed.world_size() == 1)


def make_scheduler(optimizer, schedule, epochs):
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def on_cpu(value):
    """A copy of a (nested) state with every tensor copied to the CPU, so it can be written later."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: on_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(v) for v in value)
    return value


class EpochFiles:
    """Per-epoch files (checkpoints, sample figures) written on a background thread on CUDA, where a whole
    epoch takes well under a second, and inline on a CPU, whose cores the next step needs.

    A failed write surfaces at the next submit or at close; close waits for every pending file, so an
    interrupted run still leaves a complete last.pt.
    """

    def __init__(self, background):
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="epoch-files") if background else None
        self.pending = []

    def checkpoint(self, path, model, **training_state):
        state = checkpoint_state(model, **training_state)
        if self.pool is None:
            write_state(path, state)
        else:
            self.submit(functools.partial(write_state, path, on_cpu(state)))

    def submit(self, job):
        if self.pool is None:
            return job()
        for done in [f for f in self.pending if f.done()]:
            self.pending.remove(done)
            done.result()
        self.pending.append(self.pool.submit(job))

    def close(self):
        if self.pool is not None:
            pending, self.pending = self.pending, []
            self.pool.shutdown(wait=True)
            for future in pending:
                future.result()


@dataclass
class RunConfig:
    """A training run's settings, as the training scripts' flags give them."""

    epochs: int
    lr: float
    out: Path
    device: torch.device
    schedule: str = "none"
    resume: str | None = None
    run_args: dict = field(default_factory=dict)
    sync_bn: bool = False
    compile: bool = False
    amp: str = "auto"
    fused: str = "auto"
    graphs: str = "auto"
    ema: float = 0.0


class Averaged:
    """An exponential moving average of a model's weights and BatchNorm statistics, updated after every step.
    Early steps use a smaller decay, min(decay, (1 + t) / (10 + t)) as timm does, so the random start does not
    linger in a short run."""

    def __init__(self, model, decay):
        self.decay, self.steps = decay, 0
        self.module = copy.deepcopy(model).requires_grad_(False)
        pairs = list(zip(self.module.state_dict().values(), model.state_dict().values()))
        self.floats = [pair for pair in pairs if pair[0].is_floating_point()]
        self.counts = [pair for pair in pairs if not pair[0].is_floating_point()]

    @torch.no_grad()
    def update(self):
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_([a for a, _ in self.floats], [m for _, m in self.floats], 1 - decay)
        for average, current in self.counts:
            average.copy_(current)


class Training:
    """One run's moving parts: the model on its device (wrapped for DDP, compiled), its optimizer, schedule
    and step, the history so far and the per-epoch files; `resume` puts a last.pt back into them."""

    def __init__(self, model, run, validating):
        self.model, self.run, self.validating, self.main = model, run, validating, distributed.is_main()
        if run.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # every batch has the same shape
        model.to(run.device, memory_format=torch.channels_last)
        net = distributed.wrap(model, run.device, run.sync_bn)
        net = torch.compile(net) if run.compile else net
        graphed = uses_graphs(run.graphs, run.device, run.compile)
        self.optimizer = make_optimizer(model, run.lr, run.device, run.fused, graphed)
        self.average = Averaged(model, run.ema) if run.ema else None
        self.scheduler = make_scheduler(self.optimizer, run.schedule, run.epochs)
        self.history, self.start = {"train_loss": [], "test_loss": [], "step_seconds": [], "seconds": []}, 0
        if validating:
            self.history["val_loss"] = []
        if run.resume:
            self.resume(run.resume)
        self.step = make_step(net, model, self.optimizer, run.device, run.amp, graphed)
        self.files = EpochFiles(background=self.main and run.device.type == "cuda")

    def resume(self, path):
        state = state_for(path, self.model)
        self.model.load_state_dict(state["state_dict"])
        load_optimizer(self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.history, self.start = state["history"], state["epoch"]
        if self.average is not None:
            if "averaged" not in state:
                raise UserError(f"{path}: holds no averaged weights; resume with the flags of its run (no --ema)")
            self.average.module.load_state_dict(state["averaged"])
            self.average.steps = state["averaged_steps"]
        self.history.setdefault("step_seconds", [])  # last.pt files from before steps were timed apart
        if self.validating:
            self.history.setdefault("val_loss", [])  # a run that had no validation slice until now
        torch.set_rng_state(state["rng"])
        if self.main:
            print(f"resuming {path} after epoch {self.start}")

    def train_epoch(self, train, epoch, tic):
        """The epoch's steps; its mean training loss over every rank's samples."""
        device = self.run.device
        self.model.train()
        total, count = torch.zeros((), device=device), 0
        bar = tqdm(train.epoch(epoch), total=len(train), desc=f"epoch {epoch + 1}/{self.run.epochs}", leave=False,
                   disable=None if self.main else True)
        for L, target in bar:
            total += self.step(L, target) * len(L)
            count += len(L)
            if self.main and count == len(L) and epoch == self.start:
                tqdm.write(f"first step {time.time() - STARTED:.1f}s after the start")
            if self.average is not None:
                self.average.update()
        sums = distributed.all_sum(torch.stack([total.float(), torch.tensor(float(count), device=device)]))
        train_loss = (sums[0] / sums[1]).item()
        self.history["step_seconds"].append(time.perf_counter() - tic)
        if not math.isfinite(train_loss):
            raise DivergedError(f"loss became {train_loss} in epoch {epoch + 1}; {self.run.out / 'last.pt'} keeps "
                                "the last good epoch; lower --lr and --resume from it, or start again")
        return train_loss

    @property
    def scored(self):
        """The weights the run is judged by and keeps: the average with --ema, else the model's own."""
        return self.model if self.average is None else self.average.module

    def score(self, train_loss, test, val):
        """The schedule's step and the epoch's losses (test and validation: of the scored weights), in the
        history."""
        self.scheduler.step()
        self.history["train_loss"].append(train_loss)
        self.history["test_loss"].append(test_loss(self.scored, test, self.run.device))
        if self.average is not None:  # the model's own weights too, to see what averaging does
            self.history.setdefault("test_loss_unaveraged", []).append(test_loss(self.model, test, self.run.device))
        if val is not None:
            self.history["val_loss"].append(test_loss(self.scored, val, self.run.device))

    def write(self, epoch, samples, tic):
        """The epoch's files on rank 0: its sample figure, best.pt when validation is the lowest so far, and
        last.pt (which holds the epoch's time before its own write; the history then counts the write too)."""
        out, history, model = self.run.out, self.history, self.scored
        if self.main and samples is not None:
            self.files.submit(sample_figure_later(model, samples, self.run.device,
                                                  out / "samples" / f"epoch_{epoch + 1:03d}.png"))
        if self.main and self.validating and history["val_loss"][-1] <= min(history["val_loss"]):
            self.files.checkpoint(out / "best.pt", model, metrics={"val_loss": history["val_loss"][-1]},
                                  epoch=epoch + 1, args=self.run.run_args)
        history["seconds"].append(time.perf_counter() - tic)
        if self.main:
            averaged = {} if self.average is None else {"averaged": self.average.module.state_dict(),
                                                        "averaged_steps": self.average.steps}
            self.files.checkpoint(out / "last.pt", self.model, epoch=epoch + 1, history=history,
                                  optimizer=optimizer_state(self.optimizer), scheduler=self.scheduler.state_dict(),
                                  rng=torch.get_rng_state(), args=self.run.run_args, **averaged)
            history["seconds"][-1] = time.perf_counter() - tic
            tqdm.write(f"epoch {epoch + 1}/{self.run.epochs}  train {history['train_loss'][-1]:.4g}  "
                       f"test {history['test_loss'][-1]:.4g}  {history['seconds'][-1]:.1f}s")

    def interrupted(self):
        """Ctrl-C or SIGTERM: every pending file written, one line on how to go on, exit status 130."""
        self.files.close()
        done = len(self.history["train_loss"])
        last = self.run.out / "last.pt"
        where = f"{last} holds epoch {done}" if done else "no epoch had finished, nothing to resume"
        if self.main:
            print(f"\ninterrupted: {where}; continue with the same command plus --resume {last}", file=sys.stderr)
        sys.exit(130)


def fit(model, train, test, run, samples=None, val=None):
    """Train `model` on `train` batches, score `test` (and `val`) each epoch, checkpoint every epoch to
    out/last.pt; with `val` batches also to out/best.pt when the validation loss is the lowest so far.
    The test split chooses nothing: the run's result is the last epoch.

    With `run.ema` the test and validation losses, the samples and best.pt are those of the averaged weights,
    which `model` holds when fit returns.

    Returns the history: per epoch the losses, the seconds of its steps and of the whole epoch. SIGINT and
    SIGTERM stop between steps with last.pt intact; a NaN loss stops with a clear message, also keeping
    last.pt. `samples` (uint8 images) get a figure each epoch. Under torchrun every rank trains its shard
    through DDP and rank 0 alone writes.
    """
    training = Training(model, run, validating=val is not None)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for epoch in range(training.start, run.epochs):
            tic = time.perf_counter()
            train_loss = training.train_epoch(train, epoch, tic)
            training.score(train_loss, test, val)
            training.write(epoch, samples, tic)
    except KeyboardInterrupt:
        training.interrupted()
    finally:
        signal.signal(signal.SIGTERM, previous)
        training.files.close()
    if training.average is not None:
        model.load_state_dict(training.average.module.state_dict())  # what the caller evaluates and saves
    return training.history


def finish(model, history, metrics, out, run_args, title):
    """The artefacts every training run ends with: loss plot (+JSON), metrics JSON, model.pt."""
    out = Path(out)
    loss_curve(history, out / "loss.png", title=title, units=metrics["loss_units"])
    write_json(out / "metrics.json", {"metrics": metrics, "history": history, "args": run_args})
    save_checkpoint(out / "model.pt", model.cpu(), metrics=metrics, args=run_args)


def carve_validation(photos, fraction, seed):
    """A seeded `fraction` of the training photos (`prepare.Prepared`) held out to choose best.pt, and the rest to
    train on; (photos, None) for fraction 0."""
    if fraction <= 0:
        return photos, None
    count = round(len(photos) * fraction)
    if not 0 < count < len(photos):
        raise UserError(f"--val-fraction {fraction} leaves {count} of {len(photos)} training images for validation; "
                        "choose a fraction that holds out at least one and keeps at least one")
    order = torch.randperm(len(photos), generator=torch.Generator().manual_seed(seed))
    return photos.subset(order[count:].sort().values), photos.subset(order[:count].sort().values)


MEMORY_READER_BYTES = 2**30  # a training part up to this size, of one shape, is held in memory
KEPT_EVAL_BYTES = 2**28  # a test part whose L and ab take up to this is converted once and kept
PRIOR_PHOTOS = 2000  # the classifier's prior and the regressor's baseline: from at most this many photos


def reader_for(choice, photos):
    """How training reads its photos: "memory" (one tensor, one batched warp per step) or "stream" (per sample
    from the memory maps). auto: memory where every picture has one shape and the part fits MEMORY_READER_BYTES,
    where it is the faster; stream otherwise, where memory would grow with the photos."""
    if choice == "memory" and not photos.uniform():
        raise UserError("--reader memory needs photos of one shape; these differ (use --reader stream or auto)")
    if choice != "auto":
        return choice
    fits = len(photos) * photos.picture(0).size <= MEMORY_READER_BYTES
    return "memory" if fits and photos.uniform() else "stream"


def data_workers(workers, device):
    """--workers, or its default: none on a CPU, whose cores the step needs, else the cores over the ranks up to 8."""
    if workers is not None:
        if workers < 0:
            raise UserError(f"--workers {workers}: a number of processes, 0 or more")
        return workers
    return 0 if device.type == "cpu" else min(8, default_workers() // distributed.world_size())


def kept(photos):
    """Whether a scored part's batches are small enough to convert once and keep on the device."""
    return len(photos) * photos.size**2 * 3 * 4 <= KEPT_EVAL_BYTES


def spread_sample(photos, limit=PRIOR_PHOTOS):
    """At most `limit` photos spread evenly over the part (all of a smaller part), as centre squares."""
    rows = np.linspace(0, len(photos) - 1, limit).round().astype(int) if len(photos) > limit else range(len(photos))
    return photos.subset(list(rows)).squares


def ab_chunks(squares, chunk=64):
    for start in range(0, len(squares), chunk):
        yield image_ab(squares[start:start + chunk])


def batches_for(model, args, device, reader, train_photos, test_photos, val_photos):
    """The run's training batches (this rank's share), and the test and validation batches."""
    # only hint models are trained with recoloured pictures
    recolour, regions = (args.recolour, args.regions) if model.takes_hints else (0.0, 0.0)
    options = dict(batch_size=args.batch_size, augment=args.augment, size=args.size, seed=args.seed, device=device,
                   target=model.target, rank=distributed.rank(), world=distributed.world_size(), pipeline=args.pipeline,
                   hints=model.takes_hints, recolour=recolour, regions=regions,
                   workers=data_workers(args.workers, device))
    if reader == "memory":
        train = TrainBatches(train_photos.stacked(), **options)
    else:
        train = StreamedBatches(train_photos, **options)
    test, val = (None if photos is None else
                 EvalBatches(photos.squares, batch_size=100, device=device, target=model.target,
                             hints=model.takes_hints, keep=kept(photos))
                 for photos in (test_photos, val_photos))
    return train, test, val


BF16_EMULATED = ("--amp bf16: this CPU has no bf16 instructions (avx512_bf16 or amx_bf16), so autocast is emulated "
                 "and training runs many times slower than in float32; use --amp off")


def train_from_args(make_model, args, title, extra_metrics=None):
    """What every training script does: seed, build, load the split, fit, evaluate, write artefacts."""
    if not 0 <= args.ema < 1:
        raise UserError(f"--ema {args.ema:g}: a decay from 0 (off) up to but not 1, such as 0.999")
    keep_freed_memory()
    device = distributed.setup(resolve_device(args.device))
    rank, world = distributed.rank(), distributed.world_size()
    if emulated_bf16(device, args.amp) and rank == 0:
        warn(BF16_EMULATED)
    out = writable_dir(args.out)
    train_photos = prepared_part(args.data, "train", args.size)
    test_photos = prepared_part(args.data, "test", args.size)
    train_photos, val_photos = carve_validation(train_photos, args.val_fraction, args.seed)
    reader = reader_for(args.reader, train_photos)
    seed_everything(args.seed)
    model = make_model()
    if args.init and not args.resume:
        model.load_state_dict(state_for(args.init, model)["state_dict"])
    if model.learns_prior and not args.resume:  # a resumed run loads its prior with the weights
        model.set_prior(ab_chunks(spread_sample(train_photos)))
    train, test, val = batches_for(model, args, device, reader, train_photos, test_photos, val_photos)
    run_args = plain_args(args)
    if rank == 0:
        print(f"{title}: {len(train_photos)} train images x {args.augment} = {train.samples} samples/epoch "
              f"({reader} reader{f', {train.workers} workers' if reader == 'stream' else ''}), "
              + (f"{len(val_photos)} validation images, " if val is not None else "") +
              f"{len(test_photos)} test images, {sum(p.numel() for p in model.parameters()):,} parameters, {device}"
              + (f", {world} processes" if world > 1 else ""))
    tic = time.perf_counter()
    run = RunConfig(args.epochs, args.lr, out, device, args.lr_schedule, args.resume, run_args, args.sync_bn,
                    args.compile, args.amp, args.fused, args.graphs, args.ema)
    history = fit(model, train, test, run, samples=test_photos.squares[:6], val=val)
    distributed.teardown()
    if rank != 0:
        return model, None
    metrics, _ = evaluate(model, test_photos.squares, test_photos.names, device, out=out / "test")
    metrics["train_seconds"] = sum(history["seconds"])
    metrics["device"] = str(device)
    if extra_metrics:
        metrics.update(extra_metrics(spread_sample(train_photos)[:], test_photos.squares[:]))
    finish(model, history, metrics, out, run_args, title)
    print(f"{title}: {args.epochs} epochs in {time.perf_counter() - tic:.0f}s; test loss {metrics['test_loss']:.4g} "
          f"({metrics['loss_units']}), ab MSE {metrics['mse_ab']:.2f}, colourfulness {metrics['colourfulness']:.1f} "
          f"(truth {metrics['colourfulness_truth']:.1f}); wrote {out}/model.pt")
    return model, metrics
