"""Figures and pictures as PNGs: loss plots (matplotlib, each next to a JSON of its numbers) and picture
grids (plain OpenCV, since training draws one every epoch)."""
import json
from pathlib import Path

import cv2
import numpy as np

GAP = 4
HEADER = 22
TEXT = {"fontFace": cv2.FONT_HERSHEY_SIMPLEX, "fontScale": 0.45, "color": (0, 0, 0), "thickness": 1,
        "lineType": cv2.LINE_AA}


def write_json(path, data):
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def encode(img, suffix=".png", params=()):
    """A gray, RGB or RGBA array as the bytes of an image file (`suffix`: .png, .jpg)."""
    code = cv2.COLOR_RGBA2BGRA if img.ndim == 3 and img.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(suffix, cv2.cvtColor(img, code) if img.ndim == 3 else img, list(params))
    if not ok:
        raise OSError(f"cannot encode a {img.shape} picture as {suffix}")
    return data


def write_png(path, img):
    """PNG of a gray, RGB or RGBA array, any file name, written atomically."""
    path = Path(path)
    data = encode(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data.tofile(tmp)
    tmp.replace(path)


def loss_curve(history, path, title="loss", units="loss"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(history["train_loss"]) + 1)
    ax.plot(epochs, history["train_loss"], label="train")
    ax.plot(epochs, history["test_loss"], label="test")
    ax.set(xlabel="epoch", ylabel=units, title=title, yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    write_json(Path(path).with_suffix(".json"), history)


def test_loss_curves(histories, path, last=20):
    """Test loss per epoch of several runs ({label: losses}), the last `last` epochs shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, losses in histories.items():
        ax.plot(range(1, len(losses) + 1), losses, label=label)
    longest = max(len(losses) for losses in histories.values())
    ax.axvspan(max(0.5, longest - last + 0.5), longest + 0.5, color="0.9", label=f"last {last} epochs")
    ax.set(xlabel="epoch", ylabel="test loss", yscale="log", title="test loss per epoch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    write_json(Path(path).with_suffix(".json"), histories)


def hint_curves(tables, path):
    """ab MSE and PSNR against the number of hint points, one line per model ({label: {N: metrics}}), with
    the 95% intervals shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, table in tables.items():
        counts = sorted(table)
        for ax, key in zip(axes, ("mse_ab", "psnr")):
            line, = ax.plot(counts, [table[n][key] for n in counts], marker="o", label=label,
                            linestyle="--" if label.endswith("recoloured") else "-")
            ax.fill_between(counts, *zip(*(table[n]["ci95"][key] for n in counts)), color=line.get_color(),
                            alpha=0.2)
    for ax, ylabel in zip(axes, ("ab MSE (raw units)", "PSNR (dB)")):
        ax.set(xscale="symlog", xlabel="hint points per picture (3x3 patches)", ylabel=ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    write_json(Path(path).with_suffix(".json"), {label: {str(n): row for n, row in table.items()}
                                                 for label, table in tables.items()})


def picture_grid(rows, path, columns=("gray", "prediction", "ground truth"), names=None):
    write_png(path, grid_image(rows, columns, names))


def grid_image(rows, columns=("gray", "prediction", "ground truth"), names=None):
    """rows: sequences of HxWx3 uint8 pictures, one row per picture, titled by column (and named on the left).
    Small pictures are enlarged (nearest) to at least 128 px, so a 32 px test picture stays visible; cells are as
    wide as the widest picture at that height (video frames)."""
    cell = max(128, *(img.shape[0] for row in rows for img in row))
    wide = max(round(img.shape[1] * cell / img.shape[0]) for row in rows for img in row)
    names = [name[:16] for name in names] if names else []
    label = max((cv2.getTextSize(name, TEXT["fontFace"], TEXT["fontScale"], TEXT["thickness"])[0][0] + 2 * GAP
                 for name in names), default=0)
    width = label + len(columns) * (wide + GAP) + GAP
    grid = np.full((HEADER + len(rows) * (cell + GAP), width, 3), 255, np.uint8)
    for c, title in enumerate(columns):
        cv2.putText(grid, title, (label + GAP + c * (wide + GAP), HEADER - 7), **TEXT)
    for r, row in enumerate(rows):
        y = HEADER + r * (cell + GAP)
        if names:
            cv2.putText(grid, names[r], (GAP, y + cell // 2), **TEXT)
        for c, img in enumerate(row):
            scale = cell / img.shape[0]
            picture = cv2.resize(img, (round(img.shape[1] * scale), cell), interpolation=cv2.INTER_NEAREST)
            x = label + GAP + c * (wide + GAP)
            grid[y:y + cell, x:x + picture.shape[1]] = picture
    return grid
