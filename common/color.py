"""CIELAB in the report's convention: OpenCV for files, a batched torch twin for training.

L is in [0, 100] and a, b are roughly [-128, 127]. Networks see L / 100 and predict ab in raw
units, or ab / AB_SCALE when their output goes through tanh.
"""
import cv2
import numpy as np
import torch

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


def merge_L_ab(L, ab):
    """L (HxW, 0..100) and ab (HxWx2 or 2xHxW, raw units) -> uint8 RGB."""
    ab = np.asarray(ab, dtype=np.float32)
    if ab.shape[0] == 2 and ab.ndim == 3:
        ab = ab.transpose(1, 2, 0)
    return lab_to_rgb(np.dstack([np.asarray(L, dtype=np.float32), ab]))


def rgb_to_lab_torch(rgb):
    """(N,3,H,W) RGB in [0, 1] -> (N,3,H,W) LAB, batched on any device, matching cv2 float32."""
    linear = torch.where(rgb > 0.04045, rgb.add(0.055).div_(1.055).pow_(2.4), rgb / 12.92)
    matrix = (_RGB_TO_XYZ / _WHITE[:, None]).to(rgb)
    xyz = torch.matmul(matrix, linear.flatten(2)).view_as(linear)
    f = torch.where(xyz > _EPSILON, xyz.clamp_min(_EPSILON).pow_(1 / 3), xyz.mul(7.787).add_(16 / 116))
    fx, fy, fz = f.unbind(1)
    # 116 f(y) - 16 equals OpenCV's linear branch 903.3 y below the threshold to within 1e-3
    return torch.stack([fy.mul(116).sub_(16), (fx - fy).mul_(500), (fy - fz).mul_(200)], dim=1)


def split_lab(lab):
    """(N,3,H,W) LAB -> network input L/100 (N,1,H,W) and raw ab (N,2,H,W)."""
    return lab[:, :1] / 100.0, lab[:, 1:]
