"""Users' own photos: finding them, refusing oversized ones before decoding, naming the outputs, and the
side-by-side and confidence pictures written beside each result."""
from pathlib import Path

import cv2
import numpy as np

from .color import L_SCALE
from .data import IMAGE_SUFFIXES, ImageError, image_size, read_image, to_rgb8
from .inference import lightness

SUFFIXES = {"color": "_color.png", "compare": "_compare.png", "confidence": "_confidence.png"}


def gather(inputs):
    """(file, path relative to the output folder) for every input, and the inputs that do not exist;
    folders are searched recursively."""
    found, missing = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            found += [(f, f.relative_to(item)) for f in sorted(item.rglob("*"))
                      if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            missing.append(item)
    return found, missing


def outputs_for(out, relative):
    stem = out / relative.parent / relative.stem
    return {kind: stem.with_name(stem.name + suffix) for kind, suffix in SUFFIXES.items()}


def plan(files, out, overwrite):
    """Which photos to colorize into which files: (jobs, refusals, how many are already done).
    An output that would replace an input is refused; an existing output is kept unless `overwrite`."""
    inputs = {f.resolve() for f, _ in files}
    jobs, refused, existing = [], [], 0
    for path, relative in files:
        outputs = outputs_for(out, relative)
        if any(o.resolve() in inputs for o in outputs.values()):
            refused.append(f"{path}: its output name would overwrite an input; choose another --out")
        elif outputs["color"].exists() and not overwrite:
            existing += 1
        else:
            jobs.append((path, outputs))
    return jobs, refused, existing


def load(path, max_pixels):
    """A photo decoded, or ImageError naming it; the size is checked from the header before decoding."""
    size = image_size(path)
    if size and size[0] * size[1] > max_pixels:
        raise ImageError(f"{path}: {size[0]}x{size[1]} is {size[0] * size[1] / 1e6:.0f} MP, above --max-pixels "
                         f"{max_pixels / 1e6:.0f} MP; raise the limit if you trust the file")
    img = read_image(path)
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ImageError(f"{path}: {img.shape[1]}x{img.shape[0]} is above --max-pixels; raise the limit if you "
                         "trust the file")
    return img


def panel(img, height):
    rgb = to_rgb8(img)
    scale = min(1.0, height / rgb.shape[0])
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb


def comparison(original, colour, height=768, whole=None):
    """gray (| the whole-photo result, when faces were colorized apart) | colorized (| original, for a colour
    input), at most `height` pixels tall."""
    L = np.rint(lightness(original) * (255 / L_SCALE)).clip(0, 255).astype(np.uint8)
    panels = [panel(np.repeat(L[..., None], 3, axis=2), height)]
    panels += [panel(whole, height)] if whole is not None else []
    panels += [panel(colour, height)]
    if original.ndim == 3 and not (original[..., 0] == original[..., 1]).all():
        panels.append(panel(original, height))
    return np.hstack(panels)


def heat_map(confidence):
    """Confidence in [0, 1] as RGB through the magma colour map: bright where the model is unsure."""
    levels = np.rint(np.clip(confidence, 0, 1) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_MAGMA), cv2.COLOR_BGR2RGB)
