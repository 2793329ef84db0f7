"""The one training loop, checkpoint format and evaluation shared by every model.

A checkpoint is a plain dict (model name, constructor config, state dict, metrics, and for
`last.pt` the optimizer, scheduler, epoch and history), saved atomically and loaded with
`weights_only=True`, so a file can never run code.
"""
import math
import os
import pickle
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import distributed
from .cli import UserError, keep_freed_memory, resolve_device, seed_everything
from .color import image_ab, merge_L_ab, rgb_to_lab
from .data import EvalBatches, TrainBatches, load_folder, split_folders, writable_dir
from .metrics import score_images
from .models import MODELS, build, model_name
from .plots import image_grid, loss_curve, write_json

FORMAT = 1


class DivergedError(UserError):
    """The loss became NaN or infinite."""


def save_checkpoint(path, model, metrics=None, **training_state):
    """Write atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    state = {"format": FORMAT, "model": model_name(model), "config": model.config,
             "state_dict": model.state_dict(), "metrics": metrics or {}, **training_state}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path, expect=None):
    """Read a checkpoint safely; every way it can be wrong becomes one UserError line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint (train one, or pass --checkpoint to an existing .pt file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # the unpickler raises many types on damaged files; all mean "unusable"
        if "global" in str(e).lower() and isinstance(e, pickle.UnpicklingError):
            raise UserError(f"{path}: refused, the file holds Python objects that could run code "
                            "(only plain checkpoints are loaded); use a checkpoint written by this project") from e
        raise UserError(f"{path}: not a readable checkpoint (truncated or not a PyTorch file)") from e
    if not isinstance(state, dict) or state.get("model") not in MODELS or "state_dict" not in state:
        raise UserError(f"{path}: not a checkpoint of this project (no known model name and weights)")
    if expect is not None and state["model"] not in expect:
        raise UserError(f"{path}: holds a {state['model']} model, but a {' or '.join(expect)} was asked for")
    return state


def model_from_checkpoint(state, path="checkpoint"):
    try:
        model = build(state["model"], state["config"])
        model.load_state_dict(state["state_dict"])
    except (TypeError, RuntimeError, KeyError) as e:
        raise UserError(f"{path}: weights do not fit a {state['model']} with config {state.get('config')}") from e
    return model


def load_model(path, device):
    """A checkpoint's model on `device`, and the checkpoint itself (its config, args and metrics)."""
    state = load_checkpoint(path)
    return model_from_checkpoint(state, path).to(device), state


def training_size(state):
    """The picture size a checkpoint's model was trained at (128 where the run did not record one)."""
    return state.get("args", {}).get("size", 128)


def classifier_only(flag, model, state, path):
    """Refuse a flag that means something only to the classification colorizer."""
    if model_name(model) != "classifier":
        raise UserError(f"{flag} needs a classification model; {path} holds a {state['model']}")


def autocast(device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


@torch.no_grad()
def predict(model, L, device):
    """Raw ab for a batch of L (N,1,H,W), at the size of L."""
    model.eval()
    with autocast(device):
        out = model(L.to(device, memory_format=torch.channels_last))
    return model.predict_ab(out.float(), L.shape[-2:])


@torch.no_grad()
def test_loss(model, batches, device):
    """Average per-sample loss in the model's own units (raw ab, or ab/128 for tanh)."""
    model.eval()
    total, count = 0.0, 0
    for L, target in batches:
        with autocast(device):
            out = model(L.to(memory_format=torch.channels_last))
        total += model.loss(out.float(), target).item() * len(L)
        count += len(L)
    return total / count


def colorize_images(model, images, device, batch_size=10):
    """Colorize uint8 RGB images (N,3,H,W) from their own L, OpenCV for every colour conversion."""
    truths = [img.permute(1, 2, 0).numpy() for img in images.cpu()]
    labs = [rgb_to_lab(t) for t in truths]
    outputs = []
    for start in range(0, len(labs), batch_size):
        chunk = labs[start:start + batch_size]
        L = torch.from_numpy(np.stack([lab[..., 0] for lab in chunk]))[:, None] / 100.0
        ab = predict(model, L, device).cpu().numpy()
        outputs += [merge_L_ab(lab[..., 0], a) for lab, a in zip(chunk, ab)]
    return outputs, truths


def gray(rgb):
    return merge_L_ab(rgb_to_lab(rgb)[..., 0], np.zeros((2, *rgb.shape[:2]), np.float32))


def sample_figure(model, images, device, path):
    preds, truths = colorize_images(model, images, device)
    image_grid([(gray(t), p, t) for p, t in zip(preds, truths)], path)


def evaluate(model, images, names, device, out=None):
    """Loss in model units on the test split (batches of 10), then every metric measured from the
    lossless PNGs written to `out/images` (or from the same 8-bit images in memory without `out`)."""
    import cv2

    loss = test_loss(model, EvalBatches(images, batch_size=10, device=device, target=model.target), device)
    preds, truths = colorize_images(model, images, device)
    if out is not None:
        folder = Path(out) / "images"
        folder.mkdir(parents=True, exist_ok=True)
        for name, pred in zip(names, preds):
            target = folder / (Path(name).stem + ".png")
            cv2.imencode(".png", cv2.cvtColor(pred, cv2.COLOR_RGB2BGR))[1].tofile(target)
        preds = [cv2.cvtColor(cv2.imdecode(np.fromfile(folder / (Path(n).stem + ".png"), np.uint8), cv2.IMREAD_COLOR),
                              cv2.COLOR_BGR2RGB) for n in names]
        rows = [(gray(t), p, t) for p, t in zip(preds[:8], truths[:8])]
        image_grid(rows, Path(out) / "grid.png", names=[Path(n).stem for n in names[:8]])
    metrics = {"test_loss": loss, "loss_units": loss_units(model), **score_images(preds, truths), "images": len(names)}
    if hasattr(model, "temperature"):
        metrics["temperature"] = model.temperature
    return metrics


def loss_units(model):
    if model.target == "mean_ab":
        return "mean ab MSE (raw ab units)"
    if hasattr(model, "centres"):
        return "rebalanced soft cross-entropy"
    return "ab/128 MSE" if getattr(model, "tanh", False) else "ab MSE (raw ab units)"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def train_step(net, model, optimizer, L, target, device):
    """One optimizer step; `net` is the model or its DDP wrapper, `model` knows the loss."""
    with autocast(device):
        output = net(L.contiguous(memory_format=torch.channels_last))
    loss = model.loss(output.float(), target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def make_optimizer(model, lr, device):
    return torch.optim.Adam(model.parameters(), lr=lr, fused=device.type == "cuda")


def make_scheduler(optimizer, schedule, epochs):
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def fit(model, train, test, *, epochs, lr, out, device, schedule="none", resume=None, run_args=None,
        samples=None, sync_bn=False, compile=False):
    """Train `model` on `train` batches, score `test` each epoch, checkpoint every epoch to out/last.pt
    (and out/best.pt when the test loss is the lowest so far; the run's result is the last epoch).

    Returns the history. SIGINT/SIGTERM stop between steps with last.pt intact; a NaN loss stops
    with a clear message, also keeping last.pt. `samples` (uint8 images) get a figure each epoch.
    Under torchrun every rank trains its shard through DDP and rank 0 alone writes.
    """
    out = Path(out)
    main = distributed.is_main()
    model.to(device, memory_format=torch.channels_last)
    net = distributed.wrap(model, device, sync_bn)
    if compile:
        net = torch.compile(net)
    optimizer = make_optimizer(model, lr, device)
    scheduler = make_scheduler(optimizer, schedule, epochs)
    history, start = {"train_loss": [], "test_loss": [], "seconds": []}, 0
    if resume:
        state = load_checkpoint(resume, expect=[model_name(model)])
        if state["config"] != model.config:
            raise UserError(f"{resume}: holds a {state['model']} with config {state['config']}, "
                            f"but this run builds {model.config}; use the same flags as the run you resume")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start = state["history"], state["epoch"]
        torch.set_rng_state(state["rng"])
        if main:
            print(f"resuming {resume} after epoch {start}")
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for epoch in range(start, epochs):
            tic = time.perf_counter()
            model.train()
            total, count = torch.zeros((), device=device), 0
            bar = tqdm(train.epoch(epoch), total=len(train), desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                       disable=None if main else True)
            for L, target in bar:
                total += train_step(net, model, optimizer, L, target, device) * len(L)
                count += len(L)
            sums = distributed.all_sum(torch.stack([total.float(), torch.tensor(float(count), device=device)]))
            train_loss = (sums[0] / sums[1]).item()
            if not math.isfinite(train_loss):
                raise DivergedError(f"loss became {train_loss} in epoch {epoch + 1}; {out / 'last.pt'} keeps the "
                                    "last good epoch; lower --lr and --resume from it, or start again")
            scheduler.step()
            history["train_loss"].append(train_loss)
            history["test_loss"].append(test_loss(model, test, device))
            history["seconds"].append(time.perf_counter() - tic)
            if not main:
                continue
            save_checkpoint(out / "last.pt", model, epoch=epoch + 1, history=history,
                            optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                            rng=torch.get_rng_state(), args=run_args or {})
            if history["test_loss"][-1] <= min(history["test_loss"]):
                save_checkpoint(out / "best.pt", model, metrics={"test_loss": history["test_loss"][-1]},
                                epoch=epoch + 1, args=run_args or {})
            if samples is not None:
                (out / "samples").mkdir(exist_ok=True)
                sample_figure(model, samples, device, out / "samples" / f"epoch_{epoch + 1:03d}.png")
            tqdm.write(f"epoch {epoch + 1}/{epochs}  train {train_loss:.4g}  test {history['test_loss'][-1]:.4g}"
                       f"  {history['seconds'][-1]:.1f}s")
    except KeyboardInterrupt:
        done = len(history["train_loss"])
        where = f"{out / 'last.pt'} holds epoch {done}" if done else "no epoch had finished, nothing to resume"
        if main:
            print(f"\ninterrupted: {where}; continue with the same command plus --resume {out / 'last.pt'}",
                  file=sys.stderr)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return history


def finish(model, history, metrics, out, run_args, title):
    """The artefacts every training run ends with: loss plot (+JSON), metrics JSON, model.pt."""
    out = Path(out)
    loss_curve(history, out / "loss.png", title=title, units=metrics["loss_units"])
    write_json(out / "metrics.json", {"metrics": metrics, "history": history, "args": run_args})
    save_checkpoint(out / "model.pt", model.cpu(), metrics=metrics, args=run_args)


def plain_args(args):
    """argparse values as the plain types a weights_only checkpoint may hold."""
    return {k: v if v is None or isinstance(v, (bool, int, float, str)) else str(v) for k, v in vars(args).items()}


def train_from_args(make_model, args, title, extra_metrics=None):
    """What every training script does: seed, build, load the split, fit, evaluate, write artefacts."""
    keep_freed_memory()
    device = distributed.setup(resolve_device(args.device))
    rank, world = distributed.rank(), distributed.world_size()
    out = writable_dir(args.out)
    train_dir, test_dir = split_folders(args.data)
    train_images, _ = load_folder(train_dir, args.size)
    test_images, test_names = load_folder(test_dir, args.size)
    seed_everything(args.seed)
    model = make_model()
    if hasattr(model, "set_prior") and not args.resume:  # a resumed run loads its prior with the weights
        model.set_prior(image_ab(train_images))
    train = TrainBatches(train_images, args.batch_size, args.augment, args.size, args.seed, device, model.target,
                         rank=rank, world=world)
    test = EvalBatches(test_images, batch_size=100, device=device, target=model.target)
    run_args = plain_args(args)
    if rank == 0:
        print(f"{title}: {len(train_images)} train images x {args.augment} = {train.samples} samples/epoch, "
              f"{len(test_images)} test images, {sum(p.numel() for p in model.parameters()):,} parameters, {device}"
              + (f", {world} processes" if world > 1 else ""))
    tic = time.perf_counter()
    history = fit(model, train, test, epochs=args.epochs, lr=args.lr, out=out, device=device,
                  schedule=getattr(args, "lr_schedule", "none"), resume=args.resume, run_args=run_args,
                  samples=test_images[:6], sync_bn=getattr(args, "sync_bn", False),
                  compile=getattr(args, "compile", False))
    distributed.teardown()
    if rank != 0:
        return model, None
    metrics = evaluate(model, test_images, test_names, device, out=out / "test")
    metrics["train_seconds"] = sum(history["seconds"])
    metrics["device"] = str(device)
    if extra_metrics:
        metrics.update(extra_metrics(train_images, test_images))
    finish(model, history, metrics, out, run_args, title)
    print(f"{title}: {args.epochs} epochs in {time.perf_counter() - tic:.0f}s; test loss {metrics['test_loss']:.4g} "
          f"({metrics['loss_units']}), ab MSE {metrics['mse_ab']:.2f}, colourfulness {metrics['colourfulness']:.1f} "
          f"(truth {metrics['colourfulness_truth']:.1f}); wrote {out}/model.pt")
    return model, metrics
