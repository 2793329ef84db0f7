"""Users' own photos: finding them, naming the outputs, their hint pictures, and the
side-by-side and confidence pictures written beside each result."""
from pathlib import Path

import cv2
import numpy as np

from .color import gray8
from .files import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .hints import Hints, colour_ab, point_box
from .images import GRAY_TOLERANCE, ImageError, channel_spread, read_image, to_rgb8
from .inference import lightness

ASPECT_TOLERANCE = 0.01  # a hint picture may be of another scale than its photo, not of another shape
OPAQUE = 128

SUFFIXES = {"color": "_color.png", "compare": "_compare.png", "confidence": "_confidence.png"}
FILM_SUFFIXES = {"color": "_color.mp4"}


def gather(inputs):
    """(file, path relative to the output folder) for every input, and the inputs that do not exist;
    folders are searched recursively."""
    found, missing = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            found += [(f, f.relative_to(item)) for f in sorted(item.rglob("*"))
                      if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            missing.append(item)
    return found, missing


def outputs_for(out, relative):
    stem = out / relative.parent / relative.stem
    kinds = FILM_SUFFIXES if is_film(relative) else SUFFIXES
    return {kind: stem.with_name(stem.name + suffix) for kind, suffix in kinds.items()}


def is_film(path):
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def plan(files, out, overwrite):
    """Which photos to colorize into which files: (jobs of (file, path relative to the output folder,
    outputs), refusals, how many are already done). An output that would replace an input is refused; an
    existing output is kept unless `overwrite`."""
    inputs = {f.resolve() for f, _ in files}
    jobs, refused, existing = [], [], 0
    for path, relative in files:
        outputs = outputs_for(out, relative)
        if any(o.resolve() in inputs for o in outputs.values()):
            refused.append(f"{path}: its output name would overwrite an input; choose another --out")
        elif outputs["color"].exists() and not overwrite:
            existing += 1
        else:
            jobs.append((path, relative, outputs))
    return jobs, refused, existing


def panel(img, height):
    rgb = to_rgb8(img)
    scale = min(1.0, height / rgb.shape[0])
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb


def comparison(original, colour, height=768, whole=None):
    """gray (| the whole-photo result, when faces were colorized apart) | colorized (| original, for a colour
    input), at most `height` pixels tall."""
    L = gray8(lightness(original))
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


PLACES, MIN_PLACES = 5, 3  # places suggested for hints: at most, and at least where the map is not flat
PLACE_WORK_SIDE = 96  # the uncertainty map is searched at this size on its long side
PLACE_MARGIN = 0.08  # share of each side along the border where no place is suggested


def hint_places(confidence, count=PLACES):
    """Where a hint would help most: the centres of the largest regions where the model is least sure, from its
    uncertainty map (HxW in [0, 1], `Colorized.confidence`), as (x, y) pixels of that map, most useful first.

    The map, shrunk, is blurred over a sixteenth of its side (a band along the border left out), so a wide unsure
    region outweighs a speck; the peak is taken and the whole region around it standing a fifth of the way from
    the map's median to the peak set aside, and again: MIN_PLACES peaks above the median, more while they stand
    clearly above it."""
    scale = PLACE_WORK_SIDE / max(confidence.shape)
    small = cv2.resize(confidence.astype(np.float32), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    score = cv2.GaussianBlur(small, (0, 0), max(small.shape) / 16)
    band = [max(1, round(PLACE_MARGIN * n)) for n in score.shape]  # the network is unsure at any border: not there
    score[:band[0]], score[-band[0]:], score[:, :band[1]], score[:, -band[1]:] = -np.inf, -np.inf, -np.inf, -np.inf
    inside = score[np.isfinite(score)]
    floor, spread = float(np.median(inside)), float(inside.max() - np.median(inside)) if inside.size else 0.0
    places = []
    while len(places) < count:
        y, x = np.unravel_index(np.argmax(score), score.shape)
        if spread <= 1e-6 or score[y, x] - floor <= (0.25 * spread if len(places) >= MIN_PLACES else 0):
            break
        places.append((int((x + 0.5) / scale), int((y + 0.5) / scale)))
        _, regions = cv2.connectedComponents((score >= floor + 0.2 * (score[y, x] - floor)).astype(np.uint8))
        score[regions == regions[y, x]] = -np.inf
    return places


def mark_places(rgb, places):
    """The suggested places drawn on a picture: a numbered white ring each."""
    out = rgb.copy()
    ring = max(6, round(min(out.shape[:2]) / 20))
    for number, (x, y) in enumerate(places, 1):
        cv2.circle(out, (x, y), ring, (255, 255, 255), max(1, ring // 5), cv2.LINE_AA)
        cv2.putText(out, str(number), (x + ring, y - ring), cv2.FONT_HERSHEY_SIMPLEX, ring / 15, (255, 255, 255),
                    max(1, ring // 6), cv2.LINE_AA)
    return out


def hint_pictures(folder):
    """The hint pictures of a folder by their path without suffix, to match photos of the same name."""
    return {f.relative_to(folder).with_suffix(""): f for f in sorted(Path(folder).rglob("*"))
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES}


def hint_picture(path, shape):
    """The hints painted in a hint picture, in the pixels of a photo of `shape` (H,W): every opaque pixel of a
    picture with transparency, or every non-gray pixel of one without, is a hint of its own colour. The
    picture may be the photo at another scale (nearest-neighbour, so no colours are mixed), not of another
    aspect ratio. ImageError names the file and says what to do."""
    img = read_image(path)
    H, W = shape
    h, w = img.shape[:2]
    if abs(h * W - w * H) > ASPECT_TOLERANCE * h * W:
        raise ImageError(f"{path}: hint picture is {w}x{h} but the photo is {W}x{H}, another aspect ratio; paint "
                         "the hints over a copy of the photo (any scale)")
    rgb = to_rgb8(img)
    if img.ndim == 3 and img.shape[2] == 4:
        painted = (img[..., 3] >= (OPAQUE * 257 if img.dtype == np.uint16 else OPAQUE))
    else:
        painted = channel_spread(rgb) > GRAY_TOLERANCE
    if (h, w) != (H, W):
        rgb = cv2.resize(rgb, (W, H), interpolation=cv2.INTER_NEAREST)
        painted = cv2.resize(painted.view(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST).astype(bool)
    ys, xs = np.nonzero(painted)
    if not len(ys):
        raise ImageError(f"{path}: no hints in it; paint opaque colour on a transparent PNG, or colour over a "
                         "gray copy of the photo")
    return Hints(ys, xs, colour_ab(rgb[ys, xs]))


def points_as_picture(points, shape, size):
    """Hint points (x, y, rgb) of a photo of `shape` as a transparent RGBA picture that `hint_picture` reads
    back to the same hints, each point's box painted in its colour: the saved form of the hints given on the
    web page, for colorize.py --hints."""
    rgba = np.zeros((*shape, 4), np.uint8)
    for x, y, rgb in points:
        rgba[point_box(x, y, shape, size)] = (*rgb, 255)
    return rgba
