"""Where the repository keeps what it ships, which files are pictures, which files a split holds, and
whether an output folder can be written: light to import, so a script that only checks its files
(split_data.py) starts without torch."""
import json
import os
from pathlib import Path

from .cli import UserError

REPOSITORY = Path(__file__).resolve().parent.parent
PRETRAINED = REPOSITORY / "pretrained"  # the shipped checkpoints and the faces' framing
PAGE = Path(__file__).resolve().parent / "web" / "page"  # the web page's static files
AUTOMATIC = ("unet_ensemble.pt", "unet_classifier.pt", "unet.pt", "classifier.pt", "network3.pt")  # the default first
CLASSIFIERS = ("unet_classifier.pt", "classifier.pt")  # the automatic models with bins (a confidence map), best first

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}


def default_model(folder=PRETRAINED, hints=False, bins=False):
    """The model used when none is named: the hint model for hints, a classifier where its bins are needed (a
    confidence map), else the first automatic model shipped in `folder` (a copy of pretrained/ may hold only
    some)."""
    names = ("hints.pt",) * hints + CLASSIFIERS * bins + AUTOMATIC
    return next((folder / name for name in names if (folder / name).is_file()), folder / AUTOMATIC[0])


def list_images(folder):
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def split_manifest(data):
    """split_data.py's split.json of a split as a dict, or {} for a split made by hand or none yet."""
    manifest = Path(data) / "split.json"
    return json.loads(manifest.read_text()) if manifest.is_file() else {}


def split_parts(data):
    """{"train": files, "test": files} of a split: the lists of split_data.py's split.json, read in its source
    folder (no copies are made), or for a split made by hand, the files of its train/ and test/ folders."""
    data = Path(data)
    split = split_manifest(data)
    if split:
        source = Path(split["source"])
        if not source.is_dir():
            raise UserError(f"{data / 'split.json'}: its photos were in {source}, which is gone; split again with "
                            f"`python split_data.py --src FOLDER --out {data} --force`")
        return {part: [source / name for name in split[part]] for part in ("train", "test")}
    train, test = data / "train", data / "test"
    if not train.is_dir() or not test.is_dir():
        raise UserError(f"{data}: not a split (no split.json, nor train/ and test/); "
                        f"run `make split` or `python split_data.py --src FOLDER --out {data}`")
    return {"train": list_images(train), "test": list_images(test)}


def held_out_part(data):
    """What a split's test part is: "validation" for a split made within another's training photos
    (split_data.py --within), else "test"."""
    return "validation" if split_manifest(data).get("within") else "test"


def writable_dir(path):
    """Create an output folder and prove it can be written, before any long work starts."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"{path}: cannot write output there ({e.strerror or e}); pass another --out") from e
    return path
