"""Figures as PNGs, each written next to a JSON of the numbers it shows."""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def write_json(path, data):
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def loss_curve(history, path, title="loss", units="loss"):
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


def image_grid(rows, path, columns=("gray", "prediction", "ground truth"), names=None):
    """rows: sequences of HxWx3 uint8 images, one row per picture."""
    n, m = len(rows), len(rows[0])
    fig, axes = plt.subplots(n, m, figsize=(2 * m, 2 * n), squeeze=False)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            ax = axes[r][c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(columns[c], fontsize=9)
        if names:
            axes[r][0].set_ylabel(names[r], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
