"""Scoring a model on the test split: the loss in its own units, and every metric measured from the
pictures of the one road (`inference.colorize`), as written to lossless PNGs: what users get."""
from pathlib import Path

import numpy as np
import torch

from .color import merge_L_ab, rgb_to_lab
from .data import EvalBatches, read_image, to_rgb8
from .inference import autocast, colorize_later
from .metrics import score_images
from .plots import picture_grid, write_png

GRID_ROWS = 8


@torch.no_grad()
def test_loss(model, batches, device):
    """Average per-sample loss in the model's own units, summed on the device: one host sync per call."""
    model.eval()
    total, count = torch.zeros((), device=device), 0
    for L, target in batches:
        with autocast(device):
            out = model(L.contiguous(memory_format=torch.channels_last))
        total += model.loss(out.float(), target) * len(L)
        count += len(L)
    return (total / count).item()


def loss_units(model):
    if model.target == "mean_ab":
        return "mean ab MSE (raw ab units)"
    if hasattr(model, "centres"):
        return "rebalanced soft cross-entropy"
    return "ab/128 MSE" if getattr(model, "tanh", False) else "ab MSE (raw ab units)"


def as_pictures(images):
    """uint8 tensor (N,3,H,W) -> HxWx3 uint8 arrays, the form the one road takes."""
    return [img.permute(1, 2, 0).numpy() for img in images.cpu()]


def colorize_pictures_later(model, pictures, device, batch_size=10):
    """The colour pictures of square RGB pictures at their own size, `batch_size` per forward pass; the
    forward passes run now, the CPU work when the returned function is called."""
    halves = [colorize_later(model, pictures[i:i + batch_size], len(pictures[0]), device)
              for i in range(0, len(pictures), batch_size)]
    return lambda: [rgb for half in halves for rgb, _ in half()]


def gray(rgb):
    return merge_L_ab(rgb_to_lab(rgb)[..., 0], np.zeros((2, *rgb.shape[:2]), np.float32))


def grid_rows(preds, truths):
    return [(gray(t), p, t) for p, t in zip(preds, truths)]


def sample_figure_later(model, images, device, path):
    """The per-epoch figure (gray | prediction | ground truth): forward passes now, drawing later."""
    truths = as_pictures(images)
    preds = colorize_pictures_later(model, truths, device)
    return lambda: picture_grid(grid_rows(preds(), truths), path)


def write_pictures(folder, names, preds, truths):
    """Each colour picture as a PNG in folder/images and a grid of the first few in folder/grid.png;
    returns the pictures read back from the PNGs, so scores describe the files."""
    files = [Path(folder) / "images" / (Path(name).stem + ".png") for name in names]
    for file, pred in zip(files, preds):
        write_png(file, pred)
    picture_grid(grid_rows(preds[:GRID_ROWS], truths[:GRID_ROWS]), Path(folder) / "grid.png",
                 names=[Path(n).stem for n in names[:GRID_ROWS]])
    return [to_rgb8(read_image(file)) for file in files]


def evaluate(model, images, names, device, out=None):
    """The test loss (batches of 10, the report's protocol) and every metric of the colour pictures, from
    the PNGs written to `out` (or from the same 8-bit pictures in memory without `out`)."""
    truths = as_pictures(images)
    preds = colorize_pictures_later(model, truths, device)()
    if out is not None:
        preds = write_pictures(out, names, preds, truths)
    loss = test_loss(model, EvalBatches(images, batch_size=10, device=device, target=model.target), device)
    metrics = {"test_loss": loss, "loss_units": loss_units(model), **score_images(preds, truths), "images": len(names)}
    if hasattr(model, "temperature"):
        metrics["temperature"] = model.temperature
    return metrics
