"""Split a folder of photos into train and test with scikit-learn, reproducibly, record how in split.json (no
photo is copied), and prepare both parts for training once: decoded on every core, short side resized to
--size, stored for random access (common/prepare.py)."""
import argparse
import json
import shutil
from pathlib import Path

from sklearn.model_selection import train_test_split

from common.cli import UserError, guarded
from common.files import list_images, split_parts
from common.prepare import default_workers, prepare

SETTINGS = ("seed", "test_size", "train", "test")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--src", help="folder of photos (default: the source of the split already in --out, else "
                                 "data/face_images)")
    p.add_argument("--out", default="data/split", help="where split.json and prepared/ go (default: %(default)s)")
    p.add_argument("--test-size", type=float, default=0.1, help="fraction held out for testing (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the split (default: %(default)s)")
    p.add_argument("--size", type=int, default=128,
                   help="prepare the photos for training at this size, their short side (default: %(default)s; "
                        "training prepares any other size it is given on first use)")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="processes that prepare the photos (default: every core, %(default)s)")
    p.add_argument("--force", action="store_true", help="replace an existing split made with other settings")
    return p.parse_args(argv)


def make_split(src, test_size, seed):
    names = [p.name for p in list_images(src)]
    if len(names) < 2:
        raise UserError(f"{src}: needs at least 2 images to split, found {len(names)}")
    train, test = train_test_split(names, test_size=test_size, random_state=seed)
    return {"seed": seed, "test_size": test_size, "source": str(Path(src).resolve()),
            "train": sorted(train), "test": sorted(test)}


def source_of(out, src):
    """The folder to split: --src, else the source recorded in out/split.json, else face_images."""
    if src:
        return Path(src)
    manifest = out / "split.json"
    return Path(json.loads(manifest.read_text())["source"]) if manifest.is_file() else Path("data/face_images")


def place_split(out, split, force):
    """Write out/split.json, or keep the one there when it holds the same split; returns whether it was new."""
    manifest = out / "split.json"
    if manifest.exists():
        old = json.loads(manifest.read_text())
        if {k: old.get(k) for k in SETTINGS} == {k: split[k] for k in SETTINGS} and old["source"] == split["source"]:
            return False
        if not force:
            raise UserError(f"{out} holds a different split (seed {old.get('seed')}, test size "
                            f"{old.get('test_size')}, from {old.get('source')}); pass --force to replace it, or "
                            "choose another --out")
    elif out.exists() and any(out.iterdir()) and not force:
        raise UserError(f"{out}: exists and is not a split; pass --force to replace it, or choose another --out")
    for stale in ("train", "test", "prepared"):  # copies made by earlier versions; photos prepared for another split
        shutil.rmtree(out / stale, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(split, indent=1) + "\n")
    return True


@guarded
def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    split = make_split(source_of(out, args.src), args.test_size, args.seed)
    new = place_split(out, split, args.force)
    parts = split_parts(out)
    for part in ("train", "test"):
        prepare(parts[part], out / "prepared" / str(args.size) / part, args.size, args.workers,
                desc=f"preparing {part} photos at {args.size} px")
    state = "split" if new else "split already in place"
    print(f"{out}: {state} ({len(split['train'])} train / {len(split['test'])} test, seed {args.seed}), "
          f"prepared at {args.size} px")


if __name__ == "__main__":
    main()
