"""A split's photos prepared once for training: decoded, turned upright, resized so that the short side is the
training size (aspect kept; training takes its random crops per sample), stored as raw RGB bytes in a few large
files and read by random access through memory maps, so no process holds the collection in memory and no run
decodes a JPEG again. README, "Train on your own photos", compares this format with the others measured.

    SPLIT/prepared/<size>/<part>/
        chunk-00000.u8    pictures one after another, each HxWx3 row-major
        chunk-00000.json  the chunk's sources (name, bytes, mtime) and each picture's place in the .u8, or why the
                          photo was skipped; written after the .u8, so a chunk with its .json is finished
        sources.npy       per source photo: bytes and mtime_ns, to name a photo that changed since
        index.npy         per usable photo: source position, chunk, offset, height, width; written last

Light to import (numpy and tqdm): split_data.py checks a prepared split without paying for torch or OpenCV.
"""
import json
import math
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .cli import UserError

TARGET_CHUNKS = 256  # files per part: few enough to keep every one mapped, enough to share out among cores
CHUNK_PHOTOS = (32, 4096)  # photos per chunk, at least and at most: the unit of work and of continuing
INDEX_COLUMNS = ("source", "chunk", "offset", "height", "width")


def chunk_photos(count):
    return min(CHUNK_PHOTOS[1], max(CHUNK_PHOTOS[0], math.ceil(count / TARGET_CHUNKS)))


def source_stats(paths):
    """(bytes, mtime_ns) of each file, -1 for a missing one: what tells a photo changed since it was prepared."""
    stats = np.full((len(paths), 2), -1, np.int64)
    for i, path in enumerate(paths):
        try:
            st = os.stat(path)
        except OSError:
            continue
        stats[i] = st.st_size, st.st_mtime_ns
    return stats


def source_rows(paths, stats):
    """What a chunk's record says of its sources, to be compared with the files as they are now."""
    return [[Path(p).name, *map(int, s)] for p, s in zip(paths, stats)]


def short_side_to(rgb, size):
    """The picture resized so that its short side is `size` pixels, its aspect kept."""
    import cv2

    h, w = rgb.shape[:2]
    if min(h, w) == size:
        return rgb
    scale = size / min(h, w)
    shape = (size, max(size, round(w * scale))) if h <= w else (max(size, round(h * scale)), size)
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, shape[::-1], interpolation=method)


def colour_photo(path):
    """A photo as HxWx3 uint8 RGB, or ImageError naming it when it cannot teach colour."""
    from .images import ImageError, is_grayscale, read_image, to_rgb8

    img = read_image(path)
    rgb = to_rgb8(img)
    if img.ndim == 2 or is_grayscale(rgb):
        raise ImageError(f"{path}: grayscale image (it cannot teach colour)")
    return rgb


def _ignore_interrupts():
    """Pool workers leave Ctrl-C to the main process, which stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import cv2

    cv2.setNumThreads(1)  # one photo per core already keeps every core busy


def prepare_chunk(job):
    """Decode one chunk's photos into its .u8 (and then its .json); returns (chunk, photos, skipped lines)."""
    from .images import ImageError

    chunk, paths, stats, size, folder = job
    data, places, skipped, offset = folder / f"chunk-{chunk:05d}.u8", [], [], 0
    with open(data.with_suffix(".tmp"), "wb") as out:
        for path in paths:
            try:
                rgb = short_side_to(colour_photo(path), size)
            except ImageError as e:
                places.append(None)
                skipped.append(str(e))
                continue
            out.write(memoryview(np.ascontiguousarray(rgb)).cast("B"))
            places.append([offset, *rgb.shape[:2]])
            offset += rgb.size
    os.replace(data.with_suffix(".tmp"), data)
    record = {"sources": source_rows(paths, stats), "places": places, "skipped": skipped}
    write_json_atomic(folder / f"chunk-{chunk:05d}.json", record)
    return chunk, len(paths), skipped


def write_json_atomic(path, value):
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def finished(folder, chunk, paths, stats):
    """Whether a chunk was prepared from these very files, as they are now, and its pictures are all there."""
    record, data = folder / f"chunk-{chunk:05d}.json", folder / f"chunk-{chunk:05d}.u8"
    if not record.is_file() or not data.is_file():
        return False
    record = json.loads(record.read_text())
    size = sum(h * w * 3 for _, h, w in filter(None, record["places"]))
    return data.stat().st_size == size and record["sources"] == source_rows(paths, stats)


def default_workers():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def prepare(paths, folder, size, workers=None, desc="preparing"):
    """Prepare `paths` into `folder` at `size`, with `workers` processes (default: every core). Chunks finished
    earlier from the same unchanged files are kept, so an interrupted run continues and a changed file costs
    only its chunk. Undecodable and grayscale files are skipped with one line each. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stats = source_stats(paths)
    step = chunk_photos(len(paths))
    jobs = [(k, paths[i:i + step], stats[i:i + step], size, folder) for k, i in enumerate(range(0, len(paths), step))]
    todo = [job for job in jobs if not finished(folder, job[0], job[1], job[2])]
    if not todo and (folder / "index.npy").is_file():
        return folder
    (folder / "index.npy").unlink(missing_ok=True)
    done = len(paths) - sum(len(job[1]) for job in todo)
    workers = max(1, min(workers or default_workers(), len(todo) or 1))
    bar = tqdm(total=len(paths), initial=done, unit="photo", desc=desc, smoothing=0.1, disable=None)
    # one worker works here; more are spawned, not forked: a fork of a process whose threads hold locks (torch's,
    # OpenCV's) can hang on them
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_ignore_interrupts) if workers > 1 else None
    try:
        for _, count, skipped in (pool.imap_unordered if pool else map)(prepare_chunk, todo):
            for line in skipped:
                tqdm.write(f"warning: skipping {line}", file=sys.stderr)
            bar.update(count)
            done += count
    except KeyboardInterrupt:
        if pool:
            pool.terminate()
        bar.close()
        print(f"\ninterrupted: {done:,} of {len(paths):,} photos prepared in {folder}; the same command continues "
              "from there", file=sys.stderr)
        sys.exit(130)
    if pool:
        pool.close()
        pool.join()
    bar.close()
    write_index(folder, len(jobs), step, stats)
    return folder


def write_index(folder, chunks, step, stats):
    rows = []
    for chunk in range(chunks):
        places = json.loads((folder / f"chunk-{chunk:05d}.json").read_text())["places"]
        rows += [(chunk * step + i, chunk, *place) for i, place in enumerate(places) if place is not None]
    if not rows:
        raise UserError(f"{folder}: no usable colour photo among {len(stats)} (JPEG, PNG, TIFF, BMP or WebP)")
    np.save(folder / "sources.npy", stats)
    index = np.asarray(rows, np.int64).reshape(-1, len(INDEX_COLUMNS))
    with open(folder / "index.tmp", "wb") as f:
        np.save(f, index)
    os.replace(folder / "index.tmp", folder / "index.npy")


def changed_sources(paths, folder):
    """The files that differ from what was prepared into `folder` (changed, removed or never prepared)."""
    prepared_stats = np.load(folder / "sources.npy")
    if len(prepared_stats) != len(paths):
        return list(paths)
    differ = np.flatnonzero((source_stats(paths) != prepared_stats).any(axis=1))
    return [paths[i] for i in differ]


def damaged_chunks(folder):
    """The chunk files the index reads that are missing or shorter than it needs."""
    index = np.load(folder / "index.npy", mmap_mode="r")
    ends = index[:, 2] + index[:, 3] * index[:, 4] * 3
    damaged = []
    for chunk in np.unique(index[:, 1]):
        path = folder / f"chunk-{int(chunk):05d}.u8"
        if not path.is_file() or path.stat().st_size < ends[index[:, 1] == chunk].max():
            damaged.append(path)
    return damaged


class Prepared:
    """A prepared part, read by random access: picture i is a view into a memory-mapped chunk, so memory holds
    only the pages in use (file-backed, given back under pressure), whatever the number of photos.

    Offers `len`, `shape(i)`, `picture(i)` (HxWx3 uint8 at the stored size), `names` (the usable photos' files)
    and `squares` (the centre square of every picture, as the test split is scored)."""

    def __init__(self, folder, paths, size, index=None):
        self.folder, self.paths, self.size = Path(folder), paths, size
        self.index = np.load(self.folder / "index.npy", mmap_mode="r") if index is None else index
        self._chunks = {}

    def subset(self, rows):
        """The pictures at `rows` (positions in this part), in that order."""
        return Prepared(self.folder, self.paths, self.size, np.asarray(self.index[np.asarray(rows)]))

    def __len__(self):
        return len(self.index)

    def __getstate__(self):  # a worker process maps the chunks again for itself
        return {**self.__dict__, "_chunks": {}}

    def shape(self, i):
        return int(self.index[i, 3]), int(self.index[i, 4])

    def shapes(self):
        """(height, width) of every picture, (N, 2)."""
        return np.array(self.index[:, 3:5])

    def picture(self, i):
        _, chunk, offset, h, w = (int(v) for v in self.index[i])
        if chunk not in self._chunks:
            self._chunks[chunk] = np.memmap(self.folder / f"chunk-{chunk:05d}.u8", np.uint8, mode="r")
        return self._chunks[chunk][offset:offset + h * w * 3].reshape(h, w, 3)

    def uniform(self):
        """Whether every picture has the same shape, so that the part can be held as one tensor."""
        shapes = self.shapes()
        return bool((shapes == shapes[0]).all())

    def stacked(self):
        """Every picture as one uint8 tensor (N,3,H,W); for a `uniform` part small enough for memory."""
        import torch

        return torch.from_numpy(np.stack([self.picture(i) for i in range(len(self))])).permute(0, 3, 1, 2).contiguous()

    @property
    def names(self):
        return [Path(self.paths[int(i)]).name for i in self.index[:, 0]]

    @property
    def squares(self):
        return Squares(self)


class Squares:
    """The centre size x size square of every prepared picture, as uint8 (N,3,size,size) slices: the test split as
    scored, sliced like a tensor so that a part too large for memory is read a batch at a time."""

    def __init__(self, prepared):
        self.prepared = prepared
        self.shape = (len(prepared), 3, prepared.size, prepared.size)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, part):
        import torch

        size = self.prepared.size
        pictures = []
        for i in range(*part.indices(len(self))):
            picture = self.prepared.picture(i)
            top, left = (picture.shape[0] - size) // 2, (picture.shape[1] - size) // 2
            pictures.append(picture[top:top + size, left:left + size])
        return torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()


def prepared_part(data, part, size, workers=None):
    """One part ("train" or "test") of a split, prepared at `size` now where it is not yet, and checked against its
    files: a photo changed or removed since is named. Under torchrun rank 0 prepares while the others wait for it
    (the split's folder is shared by every rank, as on one machine or a shared file system)."""
    from .files import split_parts

    paths = split_parts(data)[part]
    folder = Path(data) / "prepared" / str(size) / part
    if not (folder / "index.npy").is_file():
        if int(os.environ.get("RANK", "0")) == 0:
            prepare(paths, folder, size, workers, desc=f"preparing {part} photos at {size} px")
        while not (folder / "index.npy").is_file():
            time.sleep(1)
    changed = changed_sources(paths, folder) or damaged_chunks(folder)
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise UserError(f"{changed[0]}: changed or removed since it was prepared into {folder}{more}; prepare the "
                        f"split again with `python split_data.py --out {data} --size {size}` (only the changed "
                        "photos' chunks are redone)")
    return Prepared(folder, paths, size)
