"""Split a folder of images into train/ and test/ with scikit-learn, reproducibly, and record how."""
import argparse
import json
import shutil
import sys
from pathlib import Path

from sklearn.model_selection import train_test_split

from common.cli import UserError, guarded
from common.files import list_images


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--src", default="data/face_images", help="folder of images (default: %(default)s)")
    p.add_argument("--out", default="data/split", help="where train/, test/ and split.json go (default: %(default)s)")
    p.add_argument("--test-size", type=float, default=0.1, help="fraction held out for testing (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the split (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace an existing split made with other settings")
    return p.parse_args(argv)


def make_split(src, test_size, seed):
    names = [p.name for p in list_images(src)]
    if len(names) < 2:
        raise UserError(f"{src}: needs at least 2 images to split, found {len(names)}")
    train, test = train_test_split(names, test_size=test_size, random_state=seed)
    return {"seed": seed, "test_size": test_size, "source": str(Path(src).resolve()),
            "train": sorted(train), "test": sorted(test)}


@guarded
def main(argv=None):
    args = parse_args(argv)
    src, out = Path(args.src), Path(args.out)
    split = make_split(src, args.test_size, args.seed)
    manifest = out / "split.json"
    if manifest.exists():
        old = json.loads(manifest.read_text())
        if {k: old.get(k) for k in ("seed", "test_size", "train", "test")} == {
            k: split[k] for k in ("seed", "test_size", "train", "test")
        }:
            print(f"{out}: split already in place ({len(split['train'])} train / {len(split['test'])} test)")
            return
        if not args.force:
            raise UserError(f"{out} holds a different split (seed {old.get('seed')}, test size "
                            f"{old.get('test_size')}); pass --force to replace it, or choose another --out")
    if out.exists() and (args.force or any(out.iterdir())):
        if not args.force:
            raise UserError(f"{out}: exists and is not a split; pass --force to replace it, or choose another --out")
        for part in ("train", "test"):
            shutil.rmtree(out / part, ignore_errors=True)
        manifest.unlink(missing_ok=True)
    for part in ("train", "test"):
        (out / part).mkdir(parents=True, exist_ok=True)
        for name in split[part]:
            shutil.copy2(src / name, out / part / name)
    manifest.write_text(json.dumps(split, indent=1) + "\n")
    print(f"{out}: {len(split['train'])} train / {len(split['test'])} test images (seed {args.seed})", file=sys.stdout)


if __name__ == "__main__":
    main()
