"""Colour hints (Zhang, Zhu, Isola et al., "Real-Time User-Guided Image Colorization with Learned Deep Priors",
2017): a few pixels whose ab the user knows, which a hint model spreads along the picture's structure.

A hint model sees three more channels beside L: the hints' ab / AB_SCALE where a hint is (0 elsewhere) and
the mask (1 where a hint is). Training draws simulated hints per sample from the augmented ground truth;
evaluation places a fixed set of points; users give them as pixels of the photo (`Hints`), painted in a
hint picture or typed as X,Y,COLOUR.
"""
import math
from typing import NamedTuple

import cv2
import numpy as np
import torch

from .color import AB_SCALE, L_SCALE, rgb_to_lab

GEOMETRIC_P = 1 / 8  # points per picture ~ geometric: 7 on average, 1 picture in 8 without any
MAX_SIDE = 9  # simulated patches are squares of side 1..MAX_SIDE pixels
EVAL_SIDE = 3  # evaluation patches: 3x3 at 128 px covers the share of Zhang et al.'s 6x6 at 256 px
EVAL_POINTS = 100  # evaluation draws this many points per picture once and uses the first N
EVAL_SEED = 2017
TEST_LOSS_SEED = 7  # the simulated hints of the per-epoch test loss, the same every epoch
REGION_REACH = (20.0, 10.0, 10.0)  # a hint's region: pixels joined to it within this much of its L, a and b


class Hints(NamedTuple):
    """Hint pixels of one photo: rows and columns (in the photo's pixels) and their ab (P,2), raw units."""

    ys: np.ndarray
    xs: np.ndarray
    ab: np.ndarray

    @classmethod
    def none(cls):
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2), np.float32))

    def __len__(self):
        return len(self.ys)

    def __add__(self, other):
        return Hints(*(np.concatenate([a, b]) for a, b in zip(self, other)))


def network_input(L, ab, mask):
    """(N,1,H,W) L / L_SCALE, hints' raw ab (N,2,H,W) and mask (N,1,H,W) -> the (N,4,H,W) input of a hint model."""
    return torch.cat([L, ab * mask / AB_SCALE, mask.to(L.dtype)], dim=1)


def geometric_counts(n, generator, p=GEOMETRIC_P):
    """Points per picture: P(k) = (1 - p)^k p, as in Zhang et al.'s training code (keep adding a point while a
    coin with 1 - p says so)."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.floor(torch.log1p(-u) / math.log(1 - p)).long()


def centred(u, size, side):
    """Top-left coordinates from standard normals: mean the centre, sd a quarter of the free range, clipped."""
    free = size - side
    return ((free / 2 + u * (free + 1) / 4).round().clamp(min=0).minimum(free)).long()


def simulated_points(n, size, generator):
    """Training hints for n pictures: (top, left, side, valid), each (n, K) with K the most points any has."""
    counts = geometric_counts(n, generator)
    k = max(1, int(counts.max()))
    side = torch.randint(1, MAX_SIDE + 1, (n, k), generator=generator)
    top = centred(torch.randn(n, k, generator=generator), size, side)
    left = centred(torch.randn(n, k, generator=generator), size, side)
    return top, left, side, torch.arange(k)[None] < counts[:, None]


def evaluation_points(n, count, size, seed=EVAL_SEED):
    """The evaluation protocol's points: `count` 3x3 patches per picture at centre-weighted positions, drawn
    with a fixed seed, so every model is scored with the same points and N points are the first N of N + 1."""
    if count > EVAL_POINTS:
        raise ValueError(f"at most {EVAL_POINTS} evaluation points")
    generator = torch.Generator().manual_seed(seed)
    side = torch.full((n, EVAL_POINTS), EVAL_SIDE)
    top = centred(torch.randn(n, EVAL_POINTS, generator=generator), size, side)
    left = centred(torch.randn(n, EVAL_POINTS, generator=generator), size, side)
    return top[:, :count], left[:, :count], side[:, :count], torch.ones(n, count, dtype=torch.bool)


def paint(ab, points):
    """Hint maps from the ground truth: each point's patch holds the truth's mean ab over the patch (where
    patches overlap, their mean). ab (N,2,H,W) raw -> (hint ab (N,2,H,W), mask (N,1,H,W)), on ab's device."""
    N, _, H, W = ab.shape
    top, left, side, valid = (t.to(ab.device) for t in points)
    integral = torch.nn.functional.pad(ab.double().cumsum(2).cumsum(3), (1, 0, 1, 0))
    n = torch.arange(N, device=ab.device)[:, None]
    bottom, right = top + side, left + side
    total = (integral[n, :, bottom, right] - integral[n, :, top, right] - integral[n, :, bottom, left]
             + integral[n, :, top, left])  # (N,K,2)
    mean = (total / (side * side)[..., None]).to(ab.dtype)
    y, x = torch.arange(H, device=ab.device), torch.arange(W, device=ab.device)
    rows = ((y >= top[..., None]) & (y < bottom[..., None]) & valid[..., None]).to(ab.dtype)  # (N,K,H)
    cols = ((x >= left[..., None]) & (x < right[..., None])).to(ab.dtype)  # (N,K,W)
    count = torch.einsum("nkh,nkw->nhw", rows, cols)
    summed = torch.einsum("nkh,nkc,nkw->nchw", rows, mean, cols)
    mask = (count > 0)[:, None]
    return summed / count.clamp(min=1)[:, None], mask


def turn_hue(ab, angle):
    """ab (N,2,H,W) turned about the gray axis by an angle in radians, one per picture (N,) or per pixel
    (N,H,W): hue changes, chroma and L stay."""
    angle = angle[:, None, None] if angle.dim() == 1 else angle
    c, s = torch.cos(angle).to(ab), torch.sin(angle).to(ab)
    a, b = ab.unbind(1)
    return torch.stack([a * c - b * s, a * s + b * c], dim=1)


def hint_regions(L, ab, points):
    """The regions of one picture's hints in its truth: each hint's centre flood-filled over the pixels within
    REGION_REACH of its own L, a and b (the truth slightly blurred), regions apart. L (1,H,W) / L_SCALE and ab
    (2,H,W) raw, on the CPU; points: (top, left, side, valid) of this picture, each (K,). Returns a label map (H,W)
    int: 0 outside every region, k + 1 in the region of the k-th new one (a hint inside an earlier region shares
    it), and the number of regions."""
    lab = torch.cat([L * L_SCALE, ab]).permute(1, 2, 0).numpy().astype(np.float32)
    lab = cv2.GaussianBlur(lab, (0, 0), 1.0)
    mask = np.zeros((lab.shape[0] + 2, lab.shape[1] + 2), np.uint8)
    top, left, side, valid = points
    count = 0
    for t, lft, s in zip(top[valid].tolist(), left[valid].tolist(), side[valid].tolist()):
        y, x = t + s // 2, lft + s // 2
        if mask[y + 1, x + 1] or count == 255:
            continue
        count += 1
        cv2.floodFill(lab, mask, (x, y), 0, REGION_REACH, REGION_REACH,
                      4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (count << 8))
    return torch.from_numpy(mask[1:-1, 1:-1].astype(np.int64)), count


def region_angles(L, ab, points, generator):
    """A per-pixel turn (H,W) for one picture (on the CPU): each hint's region turned by its own random angle, the
    rest 0."""
    labels, count = hint_regions(L, ab, points)
    angles = torch.cat([torch.zeros(1, dtype=torch.float64),
                        torch.rand(count, generator=generator, dtype=torch.float64) * 2 * math.pi])
    return angles[labels]


def simulate(L, ab, generator, recolour=0.0, regions=0.0):
    """Simulated training hints for a batch (L (N,1,H,W) / L_SCALE, ground-truth ab (N,2,H,W)): `paint` at
    `simulated_points`.

    With `recolour`, that share of the pictures that get hints first has its hue turned by a uniform random
    angle, hints and target alike. On face crops the truth's hints almost always say what the model would
    guess anyway, so a model trained on them alone learns to trust its guess over a hint that disagrees;
    recoloured pictures can only be coloured right by following their hints, and pictures without hints
    keep the true colours, so automatic colorization learns the real ones. With `regions`, that share of the
    turned pictures is turned by region instead (`hint_regions`, each by its own angle, the rest left true), so
    a hint is rewarded for filling its object and stopping at the object's edge. Returns (hint ab, mask, target
    ab).
    """
    points = simulated_points(len(ab), ab.shape[-1], generator)
    if recolour > 0:
        turned = (torch.rand(len(ab), generator=generator) < recolour) & points[3].any(dim=1)
        angle = torch.rand(len(ab), generator=generator, dtype=torch.float64) * 2 * math.pi * turned
        if regions > 0:
            by_region = turned & (torch.rand(len(ab), generator=generator) < regions)
            angle = angle[:, None, None].expand(-1, *ab.shape[-2:]).clone()
            picked = by_region.nonzero()[:, 0]
            for n, L_n, ab_n in zip(picked.tolist(), L[picked].cpu(), ab[picked].cpu()):  # one copy off the device
                angle[n] = region_angles(L_n, ab_n, [t[n] for t in points], generator)
        ab = turn_hue(ab, angle.to(ab.device))
    return (*paint(ab, points), ab)


def from_points(ab, points):
    """The evaluation points of each picture (ab (N,2,H,W) of its ground truth) as the `Hints` users give."""
    hint_ab, mask = paint(ab, points)
    out = []
    for picture_ab, picture_mask in zip(hint_ab.cpu().numpy(), mask[:, 0].cpu().numpy()):
        ys, xs = np.nonzero(picture_mask)
        out.append(Hints(ys, xs, picture_ab[:, ys, xs].T.astype(np.float32)))
    return out


def colour_ab(rgb):
    """The ab of sRGB colours (P,3 uint8), each at its own lightness: "red" stays red wherever it is put."""
    rgb = np.asarray(rgb, np.uint8).reshape(-1, 1, 3)
    return rgb_to_lab(rgb)[:, 0, 1:].astype(np.float32)


def parse_point(text):
    """'X,Y,COLOUR' (pixel coordinates; '#rrggbb' or a colour name) -> (x, y, (r, g, b)); ValueError says why."""
    from PIL import ImageColor

    parts = text.split(",", 2)
    if len(parts) != 3:
        raise ValueError(f"{text!r} is not X,Y,COLOUR (for example 120,80,#1f4fbf or 120,80,red)")
    try:
        x, y = int(parts[0]), int(parts[1])
    except ValueError as e:
        raise ValueError(f"{text!r}: X and Y are whole pixel numbers") from e
    try:
        rgb = ImageColor.getrgb(parts[2].strip())[:3]
    except ValueError as e:
        raise ValueError(f"{text!r}: unknown colour {parts[2].strip()!r}; use #rrggbb or a name such as red, navy "
                         "or skyblue") from e
    return x, y, rgb


def point_box(x, y, shape, size):
    """The photo pixels a typed or clicked hint covers: those falling in the 3x3 network cells around its own
    (see `grid`), as an evaluation point does (rows, columns slices)."""
    def span(at, length):
        cell = math.floor((at + 0.5) * size / length)
        first, last = cell - EVAL_SIDE // 2, cell + EVAL_SIDE // 2 + 1
        return slice(max(0, math.ceil(first * length / size - 0.5)), min(length, math.ceil(last * length / size - 0.5)))

    return span(y, shape[0]), span(x, shape[1])


def point_hints(points, shape, size):
    """Hints from (x, y, rgb) points of a photo of `shape`, each over its `point_box`; ValueError for a point
    outside the photo."""
    H, W = shape
    if not points:
        return Hints.none()
    ys, xs = [], []
    for x, y, _ in points:
        if not (0 <= x < W and 0 <= y < H):
            raise ValueError(f"hint {x},{y} is outside the photo ({W}x{H}: X runs 0..{W - 1}, Y 0..{H - 1})")
        rows, cols = np.mgrid[point_box(x, y, shape, size)]
        ys.append(rows.ravel())
        xs.append(cols.ravel())
    ab = np.repeat(colour_ab([rgb for _, _, rgb in points]), [len(r) for r in ys], axis=0)
    return Hints(np.concatenate(ys), np.concatenate(xs), ab)


def grid(hints, shape, size):
    """Hints of a photo of `shape` (H,W) at a network's size x size: each hint pixel falls in the cell it
    covers and a cell holds the mean of its hints. Returns ab (2,size,size) raw and mask (size,size), float32;
    no hints for None."""
    ys, xs, ab = Hints.none() if hints is None else hints
    rows = np.floor((ys + 0.5) * size / shape[0]).astype(np.int64)
    cols = np.floor((xs + 0.5) * size / shape[1]).astype(np.int64)
    cell = rows * size + cols
    count = np.bincount(cell, minlength=size * size).astype(np.float32)
    sums = np.stack([np.bincount(cell, weights=ab[:, c], minlength=size * size) for c in range(2)])
    mask = count > 0
    out = np.zeros((2, size * size), np.float32)
    out[:, mask] = sums[:, mask] / count[mask]
    return out.reshape(2, size, size), mask.reshape(size, size).astype(np.float32)
