"""Scoring a model on the test split: the loss in its own units, and every metric measured from the
pictures of the one road (`inference.colorize`), as written to lossless PNGs: what users get."""
import csv
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_model, training_size
from .color import image_ab, lab_to_rgb, merge_L_ab, rgb_to_lab
from .data import EvalBatches
from .hints import EVAL_SEED, evaluation_points, from_points, turn_hue
from .images import read_image, to_rgb8
from .inference import autocast, colorize_later
from .metrics import score_pictures, summarize
from .plots import grid_image, picture_grid, write_png
from .prepare import prepared_part

GRID_ROWS = 8
EXTREMES = 8
COLOURFULNESS_WITHIN = 0.02  # share of the truth's colourfulness a chosen decoding may miss it by
DECODING = ("temperature", "mirror")  # what a model's decoding is chosen among, never its weights


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


def as_pictures(images):
    """uint8 tensor (N,3,H,W) -> HxWx3 uint8 arrays, the form the one road takes."""
    return [img.permute(1, 2, 0).numpy() for img in images.cpu()]


def colorize_pictures_later(model, pictures, device, batch_size=10, hints=None, temperature=None):
    """The colour pictures of square RGB pictures at their own size, `batch_size` per forward pass (with
    `hints`, one `Hints` per picture); the forward passes run now, the CPU work when the returned function is
    called."""
    hints = hints or [None] * len(pictures)
    halves = [colorize_later(model, pictures[i:i + batch_size], len(pictures[0]), device,
                             hints=hints[i:i + batch_size], temperature=temperature)
              for i in range(0, len(pictures), batch_size)]
    return lambda: [result.rgb for half in halves for result in half()]


def gray(rgb):
    return merge_L_ab(rgb_to_lab(rgb)[..., 0], np.zeros((2, *rgb.shape[:2]), np.float32))


def hints_shown(truth, hints):
    """The gray picture with its hints painted in their colours: what the model was given."""
    lab = rgb_to_lab(truth)
    ab = np.zeros((2, *truth.shape[:2]), np.float32)
    ab[:, hints.ys, hints.xs] = hints.ab.T
    return merge_L_ab(lab[..., 0], ab)


def grid_rows(preds, truths):
    return [(gray(t), p, t) for p, t in zip(preds, truths)]


def sample_figure_later(model, images, device, path):
    """The per-epoch figure (gray | prediction | ground truth): forward passes now, drawing later."""
    truths = as_pictures(images)
    preds = colorize_pictures_later(model, truths, device)
    return lambda: picture_grid(grid_rows(preds(), truths), path)


def write_pictures(folder, names, preds, truths, grid=True):
    """Each colour picture as a PNG in folder/images (and with `grid` a grid of the first few in folder/grid.png);
    returns the pictures read back from the PNGs, so scores describe the files."""
    files = [Path(folder) / "images" / (Path(name).stem + ".png") for name in names]
    for file, pred in zip(files, preds):
        write_png(file, pred)
    if grid:
        picture_grid(grid_rows(preds[:GRID_ROWS], truths[:GRID_ROWS]), Path(folder) / "grid.png",
                     names=[Path(n).stem for n in names[:GRID_ROWS]])
    return [to_rgb8(read_image(file)) for file in files]


def write_scores(folder, names, per_picture, images):
    """per_picture.csv (every metric of every picture) and extremes.png: the EXTREMES pictures with the
    largest ab MSE beside the EXTREMES with the smallest (read back from their PNGs), so a mean can be read
    against its spread."""
    folder = Path(folder)
    with open(folder / "per_picture.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["picture", *per_picture])
        for i, name in enumerate(names):
            writer.writerow([name, *(f"{v[i]:.6g}" for v in per_picture.values())])
    order = np.argsort(per_picture["mse_ab"])
    halves = []
    for label, picks in (("worst", order[::-1][:EXTREMES]), ("best", order[:EXTREMES])):
        preds = [to_rgb8(read_image(folder / "images" / (Path(names[i]).stem + ".png"))) for i in picks]
        truths = [as_pictures(images[i:i + 1])[0] for i in picks]
        halves.append(grid_image(grid_rows(preds, truths), (f"{label}: gray", "prediction", "ground truth"),
                                 [f"{Path(names[i]).stem} {per_picture['mse_ab'][i]:.0f}" for i in picks]))
    write_png(folder / "extremes.png", np.hstack([halves[0], np.full((len(halves[0]), 12, 3), 255, np.uint8),
                                                  halves[1]]))


def model_and_faces(checkpoint, data, part, device):
    """A checkpoint's model, the size it sees, and one part ("train" or "test") of a split at that size as
    HxWx3 pictures with their names: what the face and film evaluations start from."""
    model, state = load_model(checkpoint, device)
    size = training_size(state)
    photos = prepared_part(data, part, size)
    return model, size, as_pictures(photos.squares[:]), photos.names


EVAL_CHUNK = 500  # pictures colorized, written and scored at a time, so a large test part is never held whole


def evaluate(model, images, names, device, out=None, batch_size=10, temperature=None):
    """The test loss (batches of 10 by default, the report's protocol) and every metric of the colour pictures
    (decoded at `temperature` by a model with bins), from the PNGs written to `out` (or from the same 8-bit
    pictures in memory without `out`), each with its 95% bootstrap interval over the pictures. `images`: uint8
    (N,3,S,S) or `prepare.Squares`, read EVAL_CHUNK at a time. Returns the metrics and the per-picture scores."""
    scores = []
    for start in range(0, len(names), EVAL_CHUNK):
        truths = as_pictures(images[start:start + EVAL_CHUNK])
        preds = colorize_pictures_later(model, truths, device, batch_size, temperature=temperature)()
        if out is not None:
            preds = write_pictures(out, names[start:start + EVAL_CHUNK], preds, truths, grid=start == 0)
        scores.append(score_pictures(preds, truths))
    per_picture = {k: np.concatenate([s[k] for s in scores]) for k in scores[0]}
    if out is not None:
        write_scores(out, names, per_picture, images)
    means, intervals = summarize(per_picture)
    batches = EvalBatches(images, batch_size, device=device, target=model.target, hints=model.takes_hints,
                          keep=False)
    metrics = {"test_loss": test_loss(model, batches, device), "loss_units": model.units, **means, "ci95": intervals,
               "images": len(names)}
    metrics["mirror"] = model.mirror
    if model.has_bins:
        metrics["temperature"] = model.settings.temperature if temperature is None else temperature
    return metrics, per_picture


HINT_METRICS = ("mse_ab", "psnr")
HINT_GRID = (0, 5, 20)  # points shown in the sweep's grid
HINT_GRID_ROWS = 4


def chosen_decoding(sweep):
    """A model's own decoding (temperature, mirror) by the rule fixed before any was scored, for validation faces
    only: the lowest ab MSE among decodings whose colourfulness is within 2% of the truth's (the paper's vivid
    T = 0.38 trades accuracy for colour; within 2% the colour is the truth's), else the colourfulness nearest the
    truth's. `sweep`: the metrics of one model under each decoding; returns the chosen one's settings."""
    truth = sweep[0]["colourfulness_truth"]

    def off(m):
        return abs(m["colourfulness"] - truth) / truth

    within = [m for m in sweep if off(m) <= COLOURFULNESS_WITHIN]
    chosen = min(within, key=lambda m: m["mse_ab"]) if within else min(sweep, key=off)
    return {key: chosen[key] for key in DECODING if key in chosen}


def recoloured(images, seed=EVAL_SEED):
    """The pictures with their hue turned by a seeded random angle each (chroma kept, then clipped to sRGB):
    colours no face-trained model would guess, which only hints can give."""
    angle = torch.rand(len(images), generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 * np.pi
    out = []
    for picture, turned in zip(as_pictures(images), angle):
        lab = rgb_to_lab(picture)
        ab = turn_hue(torch.from_numpy(lab[..., 1:]).permute(2, 0, 1)[None], turned[None])[0]
        out.append(lab_to_rgb(np.dstack([lab[..., 0], ab.permute(1, 2, 0).numpy()])))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


def hint_sweep(model, images, names, device, counts, out, batch_size=10, grid_name="hints_grid.png",
               temperature=None):
    """The hint protocol: every test picture colorized with exactly N evaluation points (3x3 patches holding
    the truth's mean ab, `hints.evaluation_points`, the same for every model) for each N in `counts`; ab MSE
    and PSNR per N with 95% bootstrap intervals. A model without hint inputs is scored once, the same at
    every N. Writes out/`grid_name`: a few pictures at 0 / 5 / 20 points, each beside the hints it got."""
    truths = as_pictures(images)
    ab = image_ab(images)
    table, shown = {}, {}
    automatic = None if model.takes_hints else colorize_pictures_later(model, truths, device, batch_size,
                                                                       temperature=temperature)()
    for count in sorted(set(counts) | set(HINT_GRID)):
        hints = from_points(ab, evaluation_points(len(truths), count, images.shape[-1])) if model.takes_hints else None
        preds = automatic or colorize_pictures_later(model, truths, device, batch_size, hints, temperature)()
        if count in HINT_GRID:
            shown[count] = hints, preds
        if count in counts:
            means, intervals = summarize(score_pictures(preds, truths, HINT_METRICS))
            table[count] = {**means, "ci95": intervals}
    rows = []
    for r in range(min(HINT_GRID_ROWS, len(truths))):
        row = [shown[0][1][r]]
        for count in HINT_GRID[1:]:
            hints, preds = shown[count]
            row += [hints_shown(truths[r], hints[r]) if hints else gray(truths[r]), preds[r]]
        rows.append([*row, truths[r]])
    columns = ["0 points"] + [title for count in HINT_GRID[1:] for title in (f"{count} hints", f"{count} points")]
    picture_grid(rows, Path(out) / grid_name, columns=(*columns, "ground truth"),
                 names=[Path(n).stem for n in names[:HINT_GRID_ROWS]])
    return table
