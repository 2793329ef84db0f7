"""Face-aware colorization. The models learned tight 128 px face crops, so in a whole photo each face is
found (OpenCV's Haar cascade, inside the opencv wheel), cropped with the framing of the training pictures,
colorized at the model's size, and its ab blended back over the whole-photo result with a feathered edge.

The framing is measured, not assumed: `calibrate` runs the detector over the training pictures and takes the
median face box relative to its picture (pretrained/face_framing.json, made by calibrate_faces.py).
"""
import functools
import json
from pathlib import Path

import cv2
import numpy as np

from .color import gray8
from .files import PRETRAINED

CASCADE = "haarcascade_frontalface_default.xml"
FRAMING_FILE = PRETRAINED / "face_framing.json"
DETECT_SIDE = 800  # photos are searched at most this many pixels on their long side
PAD = 0.25  # border (share of the picture's side) replicated around a picture, so a face at its edge is found
FEATHER = 0.05  # share of a crop's side over which its colour fades into the whole-photo colour
# Each face is colorized at several framings around the calibrated one and their colours averaged: on scenes made
# from the training pictures the detector's box varies per face by about 9% in size and 8% (across) and 5% (down)
# of its width, while the model colours best at its training framing. The grid spans that spread (5 sizes x 9
# places; on the training scenes it framed faces better than 3 x 5 and than wider or finer grids).
JITTER_SCALES = (0.85, 0.92, 1.0, 1.08, 1.15)
JITTER_SHIFTS = tuple((dx, dy) for dx in (-0.08, 0.0, 0.08) for dy in (-0.08, 0.0, 0.08))
# Haar's votes a box needs: the strict count finds faces with few false ones; where it finds none, the largest
# box found at the looser count is taken (on training scenes it finds the faces the strict count misses, while
# on 84 face-less pictures it adds 2 false faces to the strict count's 2).
NEIGHBOURS, FALLBACK_NEIGHBOURS = 5, 3
WHOLE_PHOTO = 0.8  # a face whose crop spans this share of the photo's short side is coloured with the photo


@functools.lru_cache(maxsize=1)
def detector():
    return cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)


def detect(L, min_size=40, neighbours=NEIGHBOURS):
    """Face boxes (x, y, w, h) in the picture's pixels, found on its L (HxW, 0..100), largest first."""
    return [box for box, _ in voted_boxes(L, min_size, neighbours)]


def voted_boxes(L, min_size=40, neighbours=NEIGHBOURS):
    """`detect`'s boxes, each with its votes (the cascade's hits merged into it). `neighbours` only drops the
    boxes with `neighbours` votes or fewer and leaves the others as they are, so one pass at the looser count
    also gives the strict count's boxes (checked on 1,507 pictures, and in the tests). A picture narrower than
    `min_size` holds no face."""
    if min(L.shape) < min_size:
        return []
    scale = min(1.0, DETECT_SIDE / max(L.shape))
    small = cv2.resize(L, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else L
    gray = gray8(small)
    pad = round(PAD * min(gray.shape))
    gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    least = max(24, round(min_size * scale))
    boxes, votes = detector().detectMultiScale2(gray, scaleFactor=1.1, minNeighbors=neighbours,
                                                minSize=(least, least))
    found = [(((x - pad) / scale, (y - pad) / scale, w / scale, h / scale), int(n)) for (x, y, w, h), n in
             zip(boxes, votes)]
    return sorted(found, key=lambda box_votes: -box_votes[0][2])


def find_boxes(L, min_size=40):
    """The faces colorization uses: every box at the strict count, else the largest at the looser one."""
    found = voted_boxes(L, min_size, FALLBACK_NEIGHBOURS)
    return [box for box, votes in found if votes > NEIGHBOURS] or [box for box, _ in found[:1]]


def calibrate(Ls):
    """The training pictures' framing, from their L: median face box width over the picture's side, and the
    median offset of the picture's centre from the box's centre in box widths, over the pictures where a face
    is found."""
    rows = []
    for L in Ls:
        boxes = detect(L)
        if boxes:
            x, y, w, h = boxes[0]
            side = L.shape[1]
            rows.append((w / side, (side / 2 - (x + w / 2)) / w, (L.shape[0] / 2 - (y + h / 2)) / w))
    if not rows:
        return None
    box_over_side, dx, dy = np.median(np.array(rows), axis=0)
    return {"box_over_side": float(box_over_side), "centre_offset": [float(dx), float(dy)],
            "faces_found": len(rows), "pictures": len(Ls), "detector": CASCADE}


def load_framing(path=FRAMING_FILE):
    return json.loads(Path(path).read_text())


def crop_square(box, framing):
    """(x0, y0, side) of the square a face box is cropped to, framed like the training pictures."""
    x, y, w, h = box
    side = w / framing["box_over_side"]
    dx, dy = framing["centre_offset"]
    cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * w
    return cx - side / 2, cy - side / 2, side


def pixels(square):
    """A crop square in whole pixels: (left, top, side)."""
    x0, y0, side = square
    return round(x0), round(y0), max(2, round(side))


def crops(L, squares, size):
    """The squares of L (HxW) resized to size x size, the photo's edge replicated where a square reaches past it."""
    H, W = L.shape
    out = []
    for square in squares:
        left, top, n = pixels(square)
        region = L[max(0, top):max(0, top + n), max(0, left):max(0, left + n)]
        region = cv2.copyMakeBorder(region, max(0, -top), max(0, top + n - H), max(0, -left), max(0, left + n - W),
                                    cv2.BORDER_REPLICATE)
        out.append(cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA if n > size else cv2.INTER_LINEAR))
    return out


def feather(n):
    """Weights over a crop's side: 1 in the middle, a raised cosine down to 0 at the edges."""
    ramp = max(1, round(FEATHER * n))
    t = np.ones(n, np.float32)
    edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    t[:ramp], t[n - ramp:] = edge, edge[::-1]
    return t


def blend(a, b, patches):
    """Blend face patches (ab (2,s,s) at the model's size, square (x0, y0, side)) into full-size a and b,
    in place: each patch's ab is upsampled over its square and mixed in by its feathered weight; where
    squares overlap, their colours are averaged by weight. The work is held to the patches' bounding
    region, so a face in a 24 MP photo costs no full-size buffers."""
    H, W = a.shape
    placed = []
    for ab, square in patches:
        left, top, n = pixels(square)
        xs, ys = slice(max(0, left), min(W, left + n)), slice(max(0, top), min(H, top + n))
        if xs.start < xs.stop and ys.start < ys.stop:
            placed.append((ab, left, top, n, xs, ys))
    if not placed:
        return
    y0, x0 = min(ys.start for *_, ys in placed), min(xs.start for *_, xs, _ in placed)
    region = np.s_[y0:max(ys.stop for *_, ys in placed), x0:max(xs.stop for *_, xs, _ in placed)]
    total = np.zeros(a[region].shape, np.float32)
    mixed = np.zeros((2, *total.shape), np.float32)
    for ab, left, top, n, xs, ys in placed:
        inside = np.s_[ys.start - top:ys.stop - top, xs.start - left:xs.stop - left]
        here = np.s_[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        weight = np.outer(feather(n), feather(n))[inside]
        for c in range(2):
            mixed[c][here] += weight * cv2.resize(ab[c], (n, n), interpolation=cv2.INTER_LINEAR)[inside]
        total[here] += weight
    where = total > 0
    alpha = np.minimum(total[where], 1.0)
    for channel, face in zip((a, b), mixed):
        part = channel[region]
        part[where] = (1 - alpha) * part[where] + alpha * face[where] / total[where]


def framings(square):
    """The crop squares around one face's calibrated square, JITTER_SCALES x JITTER_SHIFTS."""
    x0, y0, side = square
    cx, cy = x0 + side / 2, y0 + side / 2
    return [(cx + dx * side - side * s / 2, cy + dy * side - side * s / 2, side * s)
            for s in JITTER_SCALES for dx, dy in JITTER_SHIFTS]


def find_faces(L, framing, min_size):
    """The faces of a photo, each as its list of crop squares. A face whose crop spans the photo (a close-up, or
    the photo is itself a face crop) is coloured with the whole photo; every other face, beside it or in front
    of it, gets crops of its own."""
    squares = [crop_square(box, framing) for box in find_boxes(L, min_size)]
    return [framings(square) for square in squares if square[2] < WHOLE_PHOTO * min(L.shape)]
