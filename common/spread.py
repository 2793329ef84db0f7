"""Keeping a hint inside the object it was put on. The hint network spreads a hint in blocks of its coarse
levels, across edges, and stops short inside the object (docs/hints.md, the region protocol). So a segment of L
that holds hints takes their colour: the automatic colour shifted by the hints' mean difference from it; beyond
the hinted segments the network's change from the automatic colour fades with the geodesic distance from them
(each unit of L gradient costs as much as a pixel).

Several hints that agree on one turn of the hue (a picture recoloured as a whole) ask for the network's change
everywhere: by how well the hints' hue turns agree, from the second hint on, the fading is lifted and the hinted
segments take the network's colour (shifted to the hints) instead of the automatic one.
"""
import cv2
import numpy as np
from skimage.graph import MCP_Geometric
from skimage.segmentation import felzenszwalb

from .hints import Hints
from .images import upsample

SEGMENT_SCALE = 150  # Felzenszwalb's scale on L at 128 px; chosen on training faces and made-up photos, as REACH
MIN_SEGMENT = 0.02  # share of the picture below which a segment joins a neighbour
REACH = 14  # pixels at 128 px over which the network's change fades to 1/e beyond a hinted segment
EDGE_COST = 1.0  # geodesic cost of one unit of L gradient, against 1 for a pixel's step
AGREEING_HINTS = 5  # hints that agree on one hue turn lift the fading in full from this many
WORK_SIDE = 256  # the kept-inside colour is worked out at most this size, then upsampled


def agreement(ys, xs, ab, auto):
    """0 for one hint (colour `ab` at pixels ys, xs); up to 1 for several whose hue turns from the automatic colour
    agree."""
    colours = np.unique(ab, axis=0)
    if len(colours) < 2:
        return 0.0
    before = auto[ys, xs]
    turns = np.arctan2(ab[:, 1], ab[:, 0]) - np.arctan2(before[:, 1], before[:, 0])
    return float(abs(np.exp(1j * turns).mean())) * min(1.0, (len(colours) - 1) / (AGREEING_HINTS - 1))


def segments(L):
    scale = SEGMENT_SCALE * max(L.shape) / 128
    return felzenszwalb(L / 100.0, scale=scale, sigma=0.8, min_size=max(1, int(MIN_SEGMENT * L.size)))


def fading(L, inside):
    """exp(-geodesic distance / REACH) from the pixels `inside`, the distance in pixels plus EDGE_COST per unit of
    L gradient crossed."""
    smooth = cv2.GaussianBlur(L, (0, 0), 0.8)
    gy, gx = (np.gradient(smooth, axis=axis) if L.shape[axis] > 1 else np.zeros_like(smooth) for axis in (0, 1))
    distance, _ = MCP_Geometric(1.0 + EDGE_COST * np.hypot(gx, gy)).find_costs(np.argwhere(inside))
    return np.exp(-distance / (REACH * max(L.shape) / 128)).astype(np.float32)


def hinted_change(L, hints, auto, net):
    """(weight HxW, shift HxWx2) at L's size: the colour is auto + weight * (net - auto) + shift. `auto` and `net`
    are the ab (HxWx2) without and with the hints (a `hints.Hints` in L's pixels)."""
    seg = segments(L)
    ys, xs = hints.ys, hints.xs
    labels = seg[ys, xs]
    hinted = np.unique(labels)
    agree = agreement(ys, xs, hints.ab, auto)
    weight = np.maximum(fading(L, np.isin(seg, hinted)), agree)
    shift = np.zeros((*seg.shape, 2), np.float32)
    for label in hinted:
        mine, inside = labels == label, seg == label
        to_net = (hints.ab[mine] - net[ys[mine], xs[mine]]).mean(axis=0)
        to_auto = (hints.ab[mine] - auto[ys[mine], xs[mine]]).mean(axis=0)
        weight[inside] = agree
        shift[inside] = agree * to_net + (1 - agree) * to_auto
    return weight, shift


def keep_inside(hints, L, auto, net):
    """The hinted colour kept inside the hinted objects: ab (2,h,w) at L's size, or at most WORK_SIDE on its long
    side, for the caller to upsample like any network output (a 24 MP photo needs no full-size fields). `auto` and
    `net`: the network's ab (2,h,w) without and with the hints (a `hints.Hints` in L's pixels)."""
    f = min(1.0, WORK_SIDE / max(L.shape))
    shape = (max(1, round(L.shape[0] * f)), max(1, round(L.shape[1] * f)))
    L_w = cv2.resize(L, shape[::-1], interpolation=cv2.INTER_AREA)
    auto_w, net_w = (np.dstack([upsample(c, shape) for c in ab]) for ab in (auto, net))
    ys = np.minimum((hints.ys * f).astype(int), shape[0] - 1)
    xs = np.minimum((hints.xs * f).astype(int), shape[1] - 1)
    weight, shift = hinted_change(L_w, Hints(ys, xs, hints.ab), auto_w, net_w)
    return (auto_w + weight[..., None] * (net_w - auto_w) + shift).transpose(2, 0, 1)
