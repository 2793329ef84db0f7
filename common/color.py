"""CIELAB in the report's convention: OpenCV for files, a batched torch twin for training.

L is in [0, 100] and a, b are roughly [-128, 127]. Networks see L / L_SCALE and predict ab in raw
units, or ab / AB_SCALE when their output goes through tanh.
"""
import functools

import cv2
import numpy as np
import torch

L_SCALE = 100.0
AB_SCALE = 128.0

# OpenCV's sRGB (D65) -> XYZ matrix and white point, so the torch path matches cv2.
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_EPSILON = 0.008856  # (6/29)^3, where CIELAB's cube root switches to a line


def rgb_to_lab(rgb):
    """HxWx3 RGB (uint8, uint16 or float in [0, 1]) -> float32 LAB via OpenCV."""
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float32) / 255.0
    elif rgb.dtype == np.uint16:
        rgb = rgb.astype(np.float32) / 65535.0
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab):
    """float LAB HxWx3 -> uint8 RGB, out-of-gamut colours clipped."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def gray8(L):
    """L (0..100) as an 8-bit gray picture: what the detector looks at and what users see as the input."""
    return np.rint(np.asarray(L) * (255 / L_SCALE)).clip(0, 255).astype(np.uint8)


def merge_L_ab(L, ab):
    """L (HxW, 0..100) and ab (HxWx2 or 2xHxW, raw units) -> uint8 RGB."""
    ab = np.asarray(ab, dtype=np.float32)
    if ab.shape[0] == 2 and ab.ndim == 3:
        ab = ab.transpose(1, 2, 0)
    return lab_to_rgb(np.dstack([np.asarray(L, dtype=np.float32), ab]))


@functools.lru_cache(maxsize=8)
def _xyz_matrix(device, dtype):
    """RGB -> white-normalised XYZ on `device`, made once: a copy from the host each batch would make the
    CPU wait for the GPU every step."""
    return (_RGB_TO_XYZ / _WHITE[:, None]).to(device, dtype)


def rgb_to_lab_torch(rgb):
    """(..., 3) RGB in [0, 1] -> (..., 3) LAB, batched on any device, matching cv2 float32."""
    linear = torch.where(rgb > 0.04045, rgb.add(0.055).div_(1.055).pow_(2.4), rgb / 12.92)
    xyz = linear @ _xyz_matrix(rgb.device, rgb.dtype).T
    f = torch.where(xyz > _EPSILON, xyz.clamp_min(_EPSILON).pow_(1 / 3), xyz.mul(7.787).add_(16 / 116))
    fx, fy, fz = f.unbind(-1)
    # 116 f(y) - 16 equals OpenCV's linear branch 903.3 y below the threshold to within 1e-3
    return torch.stack([fy.mul(116).sub_(16), (fx - fy).mul_(500), (fy - fz).mul_(200)], dim=-1)


def rgb_to_lab_opencv(rgb):
    """`rgb_to_lab_torch` for a CPU batch (N,H,W,3): one OpenCV call converts it in a single vectorised
    pass, where the chain of torch ops walks the batch again at every step."""
    rows = np.ascontiguousarray(rgb.reshape(-1, rgb.shape[-2], 3).numpy(), dtype=np.float32)
    return torch.from_numpy(cv2.cvtColor(rows, cv2.COLOR_RGB2Lab)).view(rgb.shape)


def rgb_to_lab_batch(rgb):
    """(N,H,W,3) RGB in [0, 1] -> LAB on the same device: OpenCV on a CPU, the torch twin elsewhere."""
    return rgb_to_lab_opencv(rgb) if rgb.device.type == "cpu" else rgb_to_lab_torch(rgb)


def split_lab(lab):
    """(N,H,W,3) LAB -> network input L / L_SCALE (N,1,H,W) and raw ab (N,2,H,W), a view that keeps the
    channels last like the networks' outputs."""
    lab = lab.permute(0, 3, 1, 2)
    return lab[:, :1] / L_SCALE, lab[:, 1:]


def image_lab(rgb):
    """uint8 RGB pictures (N,H,W,3) as they are -> L / L_SCALE (N,1,H,W) and raw ab (N,2,H,W)."""
    return split_lab(rgb_to_lab_batch(rgb.float() / 255.0))


def image_ab(images):
    """Raw ab (N,2,H,W) of uint8 RGB images (N,3,H,W)."""
    return image_lab(images.permute(0, 2, 3, 1))[1]


def lab_to_linear_rgb(lab):
    """Unclipped linear sRGB of LAB rows (tensor ..., 3; float32 or float64), OpenCV's white point and matrix."""
    L, a, b = lab.unbind(-1)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-1)
    xyz = torch.where(f > 6 / 29, f**3, (f - 16 / 116) / 7.787) * _WHITE.to(lab.dtype)
    return xyz @ torch.linalg.inv(_RGB_TO_XYZ).to(lab.dtype).T


@functools.lru_cache(maxsize=4)
def ab_bins(grid=10, extent=110):
    """Centres (Q, 2) of the grid cells of the ab plane whose colour is in the sRGB gamut for some L.

    As in Zhang, Isola & Efros (2016); float64 and deterministic, so every run gets the same bins.
    """
    axis = np.arange(-extent, extent + 1, grid, dtype=np.float64)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    L = np.linspace(0, 100, 401)
    lab = np.stack(np.broadcast_arrays(L[:, None, None], a[None], b[None]), axis=-1)
    rgb = lab_to_linear_rgb(torch.from_numpy(lab)).numpy()
    inside = ((rgb >= 0) & (rgb <= 1)).all(axis=-1).any(axis=0)
    centres = np.stack([a[inside], b[inside]], axis=1)
    centres.setflags(write=False)
    return centres


def neighbour_table(centres, neighbours=5, extent=128):
    """Indices of the `neighbours` nearest bins of every integer ab point in [-extent, extent]^2,
    as a (2 extent + 1, 2 extent + 1, neighbours) table, so encoding needs no search per pixel."""
    axis = torch.arange(-extent, extent + 1, dtype=torch.float32, device=centres.device)
    grid = torch.cartesian_prod(axis, axis)
    index = torch.cdist(grid, centres.float()).topk(neighbours, dim=1, largest=False).indices
    return index.view(len(axis), len(axis), neighbours)


def soft_encode(ab, centres, table, sigma=5.0):
    """(N,2,H,W) raw ab -> the nearest bins (N,H,W,K) and their Gaussian weights (N,H,W,K), summing to 1."""
    extent = (table.shape[0] - 1) // 2
    cell = ab.round().clamp(-extent, extent).long() + extent
    index = table[cell[:, 0], cell[:, 1]]
    offset = ab.permute(0, 2, 3, 1)[..., None, :] - centres[index]
    weights = torch.softmax(-(offset**2).sum(dim=-1) / (2 * sigma**2), dim=-1)
    return index, weights


def rebalance_weights(distribution, centres, lam=0.5, sigma=5.0):
    """Zhang et al.'s class weights: w ~ 1 / ((1 - lam) p~ + lam / Q), normalised so E_p~[w] = 1,
    where p~ is the bin distribution smoothed with a Gaussian over the ab plane."""
    distance = torch.cdist(centres, centres)
    smoothed = torch.exp(-(distance**2) / (2 * sigma**2)) @ distribution
    smoothed = smoothed / smoothed.sum()
    weights = 1.0 / ((1 - lam) * smoothed + lam / len(centres))
    return weights / (smoothed * weights).sum(), smoothed


def annealed_mean(logits, centres, temperature=0.38):
    """(N,Q,H,W) logits -> (N,2,H,W) ab: the mean of softmax(logits / T); T = 1 is the plain
    expectation and T -> 0 tends to the mode."""
    if temperature <= 0:
        return mode(logits, centres)
    probs = torch.softmax(logits / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", probs, centres.to(probs))


def mode(logits, centres):
    return centres.to(logits)[logits.argmax(dim=1)].permute(0, 3, 1, 2)
