"""The one road from L to colour, shared by evaluation, the per-epoch samples and colorize.py.

The network sees the picture's L resized to its training size; its ab is upsampled to the picture's
size and merged with the picture's own full-resolution L, with out-of-gamut chroma pulled in rather
than RGB clipped, so the output's L is the input's and no detail is lost.
"""
from contextlib import nullcontext
from typing import NamedTuple

import cv2
import numpy as np
import torch

from .cli import UserError
from .color import L_SCALE, lab_to_linear_rgb, lab_to_rgb
from .faces import blend, crops, find_faces
from .hints import grid, network_input
from .images import upsample
from .spread import keep_inside

GAMUT_STEPS = 8
STRIP_ROWS = 256  # full-resolution work goes in strips, so a 24 MP photo never has float copies whole


def autocast(device, amp="auto", cache=True):
    """bf16 autocast when asked for, and by default on CUDA (a CUDA graph capture needs cache=False)."""
    on = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache) if on else nullcontext()


def emulated_bf16(device, amp):
    """Whether bf16 autocast was asked for on an x86 CPU without bf16 instructions (avx512_bf16, amx_bf16), where
    PyTorch emulates it and a training step is many times slower than in float32."""
    if amp != "bf16" or device.type != "cpu":
        return False
    capabilities = torch.cpu.get_capabilities()
    return capabilities.get("architecture") == "x86_64" and not (
        capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def strips(height):
    return (slice(y, y + STRIP_ROWS) for y in range(0, height, STRIP_ROWS))


def lightness(img, stop=None):
    """CIELAB L (float32 HxW, 0..100) of a decoded image of any kind (gray, RGB, RGBA; 8 or 16 bit); a set `stop`
    event ends the work between strips (StoppedError)."""
    peak = 65535.0 if img.dtype == np.uint16 else 255.0
    L = np.empty(img.shape[:2], np.float32)
    for rows in strips(img.shape[0]):
        check(stop)
        part = img[rows]
        rgb = part[..., :3] if part.ndim == 3 else part[..., None].repeat(3, axis=2)
        L[rows] = cv2.cvtColor(rgb.astype(np.float32) / peak, cv2.COLOR_RGB2Lab)[..., 0]
    return L


def in_gamut(lab):
    """Which LAB rows (tensor N,3) have an sRGB colour (linear RGB in [0, 1], to float32's precision)."""
    rgb = lab_to_linear_rgb(lab)
    return ((rgb >= -1e-4) & (rgb <= 1 + 1e-4)).all(dim=-1)


def fit_gamut(L, ab):
    """Shrink the chroma of out-of-gamut pixels (bisection on a per-pixel factor) instead of clipping RGB,
    which would change their lightness. float32 torch ops, which use every core."""
    lab = torch.from_numpy(np.dstack([L, ab]).astype(np.float32))
    rows = lab.view(-1, 3)
    outside = (~in_gamut(rows)).nonzero()[:, 0]
    if len(outside):
        L_out, ab_out = rows[outside, :1], rows[outside, 1:]
        lo, hi = torch.zeros(len(outside), 1), torch.ones(len(outside), 1)
        for _ in range(GAMUT_STEPS):
            mid = (lo + hi) / 2
            ok = in_gamut(torch.cat([L_out, ab_out * mid], dim=1))[:, None]
            lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
        rows[outside, 1:] = ab_out * lo
    return lab.numpy()


@torch.no_grad()
def predict(model, L_small, device, hint_grids=None, temperature=None):
    """Network outputs and raw ab (numpy N,2,h,w) for a batch of L at network size (N,h,w, 0..100), decoded at
    `temperature` by a model with bins; a hint model also takes each picture's hints at that size ((ab (2,h,w),
    mask (h,w)) from `hints.grid`), none where `hint_grids` is None."""
    model.eval()
    x = torch.from_numpy(np.stack(L_small))[:, None].to(device) / L_SCALE
    if model.takes_hints:
        if hint_grids is None:
            ab, mask = torch.zeros(len(x), 2, *x.shape[-2:]), torch.zeros(len(x), 1, *x.shape[-2:])
        else:
            ab = torch.from_numpy(np.stack([g[0] for g in hint_grids]))
            mask = torch.from_numpy(np.stack([g[1] for g in hint_grids]))[:, None]
        x = network_input(x, ab.to(device), mask.to(device))
    with autocast(device):
        output = model(x.contiguous(memory_format=torch.channels_last))
    output = output.float()
    return output, model.predict_ab(output, x.shape[-2:], temperature).cpu().numpy()


def shrink(L, size):
    return cv2.resize(L, (size, size), interpolation=cv2.INTER_AREA)


class StoppedError(Exception):
    """Whoever asked for the picture no longer wants it (the page's client went away, or the server stops)."""


def check(stop):
    if stop is not None and stop.is_set():
        raise StoppedError


def render(img, L, ab_small, faces=(), stop=None, carry=None, inside=None):
    """The colour picture: ab (2,h,w) upsampled to L's size, kept inside the hinted objects where `inside` gives
    the hints and the ab without them (`spread.keep_inside`), face patches blended in, `carry` applied (a video's
    colour carried from earlier frames: (L, a, b) -> (a, b)), merged with L, in the input's depth and alpha. A
    set `stop` event ends the work between strips (StoppedError)."""
    if inside is not None:
        hints, auto_small = inside
        ab_small = keep_inside(hints, L, auto_small, ab_small)
    a, b = (upsample(c, L.shape) for c in ab_small)
    if faces:
        blend(a, b, faces)
    if carry is not None:
        a, b = carry(L, a, b)
    rgb = np.empty((*L.shape, 4 if img.ndim == 3 and img.shape[2] == 4 else 3), img.dtype)
    for rows in strips(L.shape[0]):
        check(stop)
        rgb[rows] = compose(fit_gamut(L[rows], np.dstack([a[rows], b[rows]])), img[rows])
    return rgb


class Colorized(NamedTuple):
    rgb: np.ndarray  # the colour picture, in the input's depth and alpha
    confidence: np.ndarray | None  # entropy of the bins in [0, 1], for --confidence
    faces: int  # faces colorized at the training framing and blended in


def colorize(model, images, size, device, confidence=False, faces=None, hints=None, temperature=None):
    """Decoded images (gray, RGB or RGBA; 8 or 16 bit; any size) -> a Colorized each. With `faces`
    ((framing, min_size), see common/faces.py) faces found in a photo are colorized at the training framing,
    unless the photo has `hints` (a `hints.Hints` or None per image, in its pixels; they need a hint model).
    A model with bins decodes them at `temperature` (None: its own)."""
    return colorize_later(model, images, size, device, confidence, faces, hints, temperature=temperature)()


def colorize_later(model, images, size, device, confidence=False, faces=None, hints=None, found=None,
                   temperature=None, stop=None):
    """`colorize` in two halves: the forward passes now, while the model is as it is, and the CPU work
    (upsampling, gamut, RGB) in the returned function, which another thread may call and stop with an event, and
    a video passes the colour it carries from frame to frame (see `render`). `found`: the faces of each image as
    `find_faces` gave them, for a caller that colours the same photo again (the page) or tracks faces (a video).
    A set `stop` event ends the first half too, between its steps (StoppedError)."""
    hints = hints or [None] * len(images)
    hinted = [h is not None and len(h) > 0 for h in hints]
    if not model.takes_hints and any(hinted):
        raise UserError("this model takes no colour hints; use a hint model such as pretrained/hints.pt")
    Ls = [lightness(img, stop) for img in images]
    small = [shrink(L, size) for L in Ls]
    output, ab_small = predict(model, small, device, hint_grids(model, Ls, hints, size), temperature)
    # a hinted picture's colour without its hints, what spread.keep_inside keeps outside the hinted objects; the
    # pass above already gave it for the others
    hinted_small = [L for L, given in zip(small, hinted) if given]
    auto_small = iter(predict(model, hinted_small, device, temperature=temperature)[1] if hinted_small else [])
    keep = [(h, next(auto_small)) if given else None for h, given in zip(hints, hinted)]
    entropy = model.entropy(output).cpu().numpy() if confidence else [None] * len(images)
    check(stop)
    # a face crop sees only the hints inside it and would overrule those around it: hints turn faces off
    if found is None:
        found = [find_faces(L, *faces) if faces and not given else [] for L, given in zip(Ls, hinted)]
    found = [image_faces if not given else [] for image_faces, given in zip(found, hinted)]
    check(stop)
    squares = [[square for face in image_faces for square in face] for image_faces in found]
    face_crops = [crop for L, image_squares in zip(Ls, squares) for crop in crops(L, image_squares, size)]
    face_ab = iter(predict(model, face_crops, device, temperature=temperature)[1] if face_crops else [])
    patches = [[(next(face_ab), square) for square in image_squares] for image_squares in squares]

    def pictures(stop=None, carry=None):
        return [Colorized(render(img, L, ab, image_patches, stop, carry, kept),
                          None if h is None else unsure(model, h, L.shape), len(image_faces))
                for img, L, ab, h, image_patches, image_faces, kept
                in zip(images, Ls, ab_small, entropy, patches, found, keep)]

    return pictures


def hint_grids(model, Ls, hints, size):
    """`predict`'s hint grids for pictures of lightness `Ls` and their hints; None for a model that takes none."""
    return [grid(h, L.shape, size) for L, h in zip(Ls, hints)] if model.takes_hints else None


def unsure(model, entropy, shape):
    """A model's entropy of its bins (h,w, nats) as the confidence map: in [0, 1], at a picture's shape."""
    return upsample(entropy, shape) / np.log(model.bins)


def confidence_maps(model, images, size, device, hints=None, stop=None):
    """The confidence map of each image (a model with bins; `hints` as `colorize` takes them) without colouring it:
    the page's overlay needs neither the faces nor the picture."""
    hints = hints or [None] * len(images)
    Ls = [lightness(img, stop) for img in images]
    output, _ = predict(model, [shrink(L, size) for L in Ls], device, hint_grids(model, Ls, hints, size))
    return [unsure(model, h, L.shape) for h, L in zip(model.entropy(output).cpu().numpy(), Ls)]


def compose(lab, original):
    """LAB -> RGB in the input's bit depth, with its alpha channel put back."""
    if original.dtype == np.uint16:
        rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
        rgb = np.clip(np.rint(rgb * 65535.0), 0, 65535).astype(np.uint16)
    else:
        rgb = lab_to_rgb(lab)
    if original.ndim == 3 and original.shape[2] == 4:
        rgb = np.dstack([rgb, original[..., 3]])
    return rgb

