"""Split a folder of photos into train and test with scikit-learn, reproducibly, record how in split.json (no
photo is copied), and prepare both parts for training once: decoded on every core, short side resized to
--size, stored for random access (common/prepare.py). With --within, split the training photos of a split
instead: its test part is then a validation part, for choices (a classifier's temperature) that must never see
the test split."""
import argparse
import json
import shutil
from pathlib import Path

from sklearn.model_selection import train_test_split

from common.cli import UserError, guarded
from common.files import list_images, split_manifest, split_parts
from common.prepare import default_workers, prepare

SETTINGS = ("seed", "test_size", "train", "test", "within")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--src", help="folder of photos (default: the source of the split already in --out, else "
                                 "data/face_images)")
    p.add_argument("--within", metavar="SPLIT",
                   help="split the training photos of this split (made by split_data.py) into train and validation")
    p.add_argument("--out", default="data/split", help="where split.json and prepared/ go (default: %(default)s)")
    p.add_argument("--test-size", type=float, default=0.1, help="fraction held out for testing (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the split (default: %(default)s)")
    p.add_argument("--size", type=int, default=128,
                   help="prepare the photos for training at this size, their short side (default: %(default)s; "
                        "training prepares any other size it is given on first use)")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="processes that prepare the photos (default: every core, %(default)s)")
    p.add_argument("--force", action="store_true", help="replace an existing split made with other settings")
    args = p.parse_args(argv)
    if args.within and args.src:
        p.error("--within splits the source of that split; give --src or --within, not both")
    return args


def make_split(src, names, within, test_size, seed):
    if len(names) < 2:
        raise UserError(f"{src}: needs at least 2 images to split, found {len(names)}")
    train, test = train_test_split(names, test_size=test_size, random_state=seed)
    return {"seed": seed, "test_size": test_size, "source": str(Path(src).resolve()),
            "train": sorted(train), "test": sorted(test), "within": within}


def photos_to_split(out, src, within):
    """(source folder, the names in it to split, the split they are the training part of or None): --within's
    training photos, else --src's photos, else those of what out/split.json records, else face_images'."""
    within = within or (None if src else split_manifest(out).get("within"))
    if within:
        split = split_manifest(Path(within))
        if not split:
            raise UserError(f"{within}: no split.json to split the training photos of; make it with "
                            f"`python split_data.py --src FOLDER --out {within}`")
        return Path(split["source"]), split["train"], str(Path(within).resolve())
    source = Path(src or split_manifest(out).get("source", "data/face_images"))
    return source, [p.name for p in list_images(source)], None


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
    split = make_split(*photos_to_split(out, args.src, args.within), args.test_size, args.seed)
    new = place_split(out, split, args.force)
    parts = split_parts(out)
    for part in ("train", "test"):
        prepare(parts[part], out / "prepared" / str(args.size) / part, args.size, args.workers,
                desc=f"preparing {part} photos at {args.size} px")
    state = "split" if new else "split already in place"
    held_out = f"validation, within {args.within or split['within']}" if split["within"] else "test"
    print(f"{out}: {state} ({len(split['train'])} train / {len(split['test'])} {held_out}, seed {args.seed}), "
          f"prepared at {args.size} px")


if __name__ == "__main__":
    main()
