"""Photo collections of any size made from face_images, for benchmarks and tests of training at scale: each photo
a 500x375 (or, one in four, 375x500) JPEG of one to three faces at different sizes over a blurred, tinted scene
cut from another picture, so that it decodes, compresses and trains like a photo rather than a test pattern."""
import multiprocessing
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .files import list_images
from .prepare import colour_photo, default_workers

SHAPE = (375, 500)  # height, width of a landscape photo
PORTRAIT_SHARE = 0.25
QUALITY = 90


def soft_ellipse(h, w):
    """A mask that is 1 inside an ellipse filling the box and fades to 0 at its border."""
    y, x = np.mgrid[0:h, 0:w]
    r = ((x - (w - 1) / 2) / (w / 2)) ** 2 + ((y - (h - 1) / 2) / (h / 2)) ** 2
    return np.clip((1 - r) * 4, 0, 1)[..., None].astype(np.float32)


def compose(sources, rng):
    """One photo (HxWx3 uint8 RGB) from `sources` (a list of RGB pictures), drawn with `rng`."""
    h, w = SHAPE[::-1] if rng.random() < PORTRAIT_SHARE else SHAPE
    scene = cv2.resize(sources[rng.integers(len(sources))], (w, h), interpolation=cv2.INTER_CUBIC)
    scene = cv2.GaussianBlur(scene, (0, 0), rng.uniform(4, 12)).astype(np.float32)
    scene = scene * rng.uniform(0.6, 1.2, 3) + rng.uniform(-30, 30, 3)
    for _ in range(rng.integers(1, 4)):
        side = int(rng.integers(min(h, w) // 4, min(h, w)))
        face = cv2.resize(sources[rng.integers(len(sources))], (side, side), interpolation=cv2.INTER_AREA)
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        mask = soft_ellipse(side, side)
        box = scene[top:top + side, left:left + side]
        box[:] = box * (1 - mask) + face * mask
    return np.clip(scene + rng.normal(0, 2, scene.shape), 0, 255).astype(np.uint8)


def _write_one(job):
    index, path, seed = job
    rgb = compose(_SOURCES, np.random.default_rng([seed, index]))
    data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1]
    data.tofile(path)
    return index


_SOURCES = []  # the source pictures, read once by each worker process


def _read_sources(src):
    _SOURCES[:] = [colour_photo(p) for p in list_images(src)]


def make_photos(src, out, count, seed=0, workers=None):
    """Write `count` photos photo-000000.jpg ... to `out` from the pictures of `src`; the same (src, count, seed)
    always gives the same files. Photos already there are kept. Returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"photo-{i:06d}.jpg" for i in range(count)]
    jobs = [(i, p, seed) for i, p in enumerate(paths) if not p.is_file()]
    if not jobs:
        return paths
    with multiprocessing.get_context("spawn").Pool(workers or default_workers(), _read_sources, (src,)) as pool:
        for _ in tqdm(pool.imap_unordered(_write_one, jobs, chunksize=16), total=len(jobs), unit="photo",
                      desc=f"making photos in {out}"):
            pass
    return paths
