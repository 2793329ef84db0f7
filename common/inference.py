"""Colorizing photos of any size: the network sees L resized to its training size, its ab is upsampled
to the photo's size and merged with the photo's own full-resolution L, so no detail is lost."""
import cv2
import numpy as np
import torch

from .color import lab_to_linear_rgb, lab_to_rgb
from .engine import autocast

GAMUT_STEPS = 8
STRIP_ROWS = 256  # full-resolution work goes in strips, so a 24 MP photo never has float64 copies whole


def strips(height):
    return (slice(y, y + STRIP_ROWS) for y in range(0, height, STRIP_ROWS))


def lightness(img):
    """CIELAB L (float32 HxW, 0..100) of a decoded image of any kind (gray, RGB, RGBA; 8 or 16 bit)."""
    peak = 65535.0 if img.dtype == np.uint16 else 255.0
    L = np.empty(img.shape[:2], np.float32)
    for rows in strips(img.shape[0]):
        part = img[rows]
        rgb = part[..., :3] if part.ndim == 3 else part[..., None].repeat(3, axis=2)
        L[rows] = cv2.cvtColor(rgb.astype(np.float32) / peak, cv2.COLOR_RGB2Lab)[..., 0]
    return L


def in_gamut(lab):
    rgb = lab_to_linear_rgb(lab.astype(np.float64))
    return ((rgb >= -1e-4) & (rgb <= 1 + 1e-4)).all(axis=-1)


def fit_gamut(L, ab):
    """Shrink the chroma of out-of-gamut pixels (bisection on a per-pixel factor) instead of clipping RGB,
    which would change their lightness."""
    lab = np.dstack([L, ab]).astype(np.float32)
    outside = ~in_gamut(lab)
    if outside.any():
        L_out, ab_out = lab[outside][:, :1], lab[outside][:, 1:]
        lo, hi = np.zeros(len(L_out), np.float32), np.ones(len(L_out), np.float32)
        for _ in range(GAMUT_STEPS):
            mid = (lo + hi) / 2
            ok = in_gamut(np.hstack([L_out, ab_out * mid[:, None]]))
            lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
        lab[outside, 1:] = ab_out * lo[:, None]
    return lab


@torch.no_grad()
def predict_small(model, L_small, device):
    """Network outputs and raw ab for a batch of L at network size (N,H,W, 0..100)."""
    model.eval()
    x = torch.from_numpy(np.stack(L_small))[:, None].to(device) / 100.0
    with autocast(device):
        output = model(x.contiguous(memory_format=torch.channels_last))
    output = output.float()
    return output, model.predict_ab(output, x.shape[-2:]).cpu().numpy()


def colorize_batch(model, images, size, device, confidence=False):
    """Decoded images -> (colour image in the input's depth and alpha, entropy map or None) each."""
    Ls = [lightness(img) for img in images]
    small = [cv2.resize(L, (size, size), interpolation=cv2.INTER_AREA) for L in Ls]
    output, ab_small = predict_small(model, small, device)
    entropy = model.entropy(output).cpu().numpy() if confidence else [None] * len(images)
    results = []
    for img, L, ab, h in zip(images, Ls, ab_small, entropy):
        H, W = L.shape
        a, b = (cv2.resize(c, (W, H), interpolation=cv2.INTER_LINEAR) for c in ab)
        rgb = np.empty((H, W, 4 if img.ndim == 3 and img.shape[2] == 4 else 3), img.dtype)
        for rows in strips(H):
            rgb[rows] = compose(fit_gamut(L[rows], np.dstack([a[rows], b[rows]])), img[rows])
        conf = None if h is None else cv2.resize(h, (W, H), interpolation=cv2.INTER_LINEAR) / np.log(model.bins)
        results.append((rgb, conf))
    return results


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


def write_png(path, img):
    """PNG of an RGB(A) array, any file name."""
    code = cv2.COLOR_RGBA2BGRA if img.ndim == 3 and img.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, data = cv2.imencode(".png", cv2.cvtColor(img, code) if img.ndim == 3 else img)
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data.tofile(tmp)
    tmp.replace(path)
