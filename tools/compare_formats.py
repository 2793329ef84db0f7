"""Compare ways to store a prepared photo collection, on the same photos and machine: our memory-mapped raw chunks
(common/prepare.py), WebDataset tar shards of JPEGs, and LitData chunks of raw arrays. Per format: preparation
photos/s on one core, disk per photo, and reading 2,000 pictures in a random order (samples/s, one process).
The README's format table comes from this. Needs `pip install webdataset litdata` beside requirements.txt:
    python tools/compare_formats.py --src data/collections/photos-2000 --out /tmp/formats"""
import argparse
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.files import list_images  # noqa: E402
from common.prepare import Prepared, colour_photo, prepare, short_side_to  # noqa: E402

READS = 2000


def prepared_picture(path, size):
    return short_side_to(colour_photo(path), size)


def folder_bytes(folder):
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def ours(paths, out, size, order):
    tic = time.perf_counter()
    photos = Prepared(prepare(paths, out, size, workers=1), paths, size)
    prepared = time.perf_counter() - tic
    tic = time.perf_counter()
    for i in order:
        np.ascontiguousarray(photos.picture(i))
    return prepared, time.perf_counter() - tic


def webdataset(paths, out, size, order):
    import webdataset as wds

    out.mkdir(parents=True)
    tic = time.perf_counter()
    with wds.ShardWriter(str(out / "shard-%05d.tar"), maxcount=1000, verbose=0) as sink:
        for i, path in enumerate(paths):
            rgb = prepared_picture(path, size)
            jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
            sink.write({"__key__": f"{i:07d}", "jpg": jpeg.tobytes()})
    prepared = time.perf_counter() - tic
    shards = sorted(str(p) for p in out.glob("*.tar"))
    tic = time.perf_counter()
    reads = 0
    for sample in wds.WebDataset(shards, shardshuffle=False).shuffle(1000):  # sequential, with a shuffle buffer
        cv2.cvtColor(cv2.imdecode(np.frombuffer(sample["jpg"], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        reads += 1
        if reads == len(order):
            break
    return prepared, time.perf_counter() - tic


def litdata_sample(job):
    path, size = job
    return {"picture": prepared_picture(path, size)}


def litdata_raw(paths, out, size, order):
    from litdata import StreamingDataset, optimize

    tic = time.perf_counter()
    optimize(fn=litdata_sample, inputs=[(str(p), size) for p in paths],
             output_dir=str(out), chunk_bytes="64MB", num_workers=1, mode="overwrite")
    prepared = time.perf_counter() - tic
    dataset = StreamingDataset(str(out))
    tic = time.perf_counter()
    for i in order:
        dataset[int(i)]["picture"]
    return prepared, time.perf_counter() - tic


def litdata_streamed(paths, out, size, order):
    """LitData's own way to read: iterating a shuffled StreamingDataset (chunks in a random order)."""
    from litdata import StreamingDataset

    prepared, _ = litdata_raw(paths, out, size, order[:1])
    tic = time.perf_counter()
    for reads, _ in enumerate(StreamingDataset(str(out), shuffle=True, seed=0), 1):
        if reads == len(order):
            break
    return prepared, time.perf_counter() - tic


FORMATS = {"memory-mapped raw chunks (ours)": ours, "WebDataset tar shards, JPEG q95": webdataset,
           "LitData chunks, raw arrays": litdata_raw, "LitData, iterated shuffled": litdata_streamed}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="folder of photos")
    p.add_argument("--out", required=True, help="scratch folder (emptied)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    paths = list_images(args.src)
    order = np.random.default_rng(args.seed).integers(0, len(paths), READS)
    shutil.rmtree(args.out, ignore_errors=True)
    print(f"{len(paths)} photos from {args.src}, short side {args.size} px; {READS} reads in a random order")
    print(f"{'format':<36}{'prepare photos/s':>18}{'KB/photo':>10}{'reads/s':>10}")
    for name, run in FORMATS.items():
        out = Path(args.out) / run.__name__
        prepared, read = run(paths, out, args.size, order)
        print(f"{name:<36}{len(paths) / prepared:>18.0f}{folder_bytes(out) / len(paths) / 1024:>10.1f}"
              f"{READS / read:>10.0f}")


if __name__ == "__main__":
    main()
