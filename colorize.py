"""Colorize your own black-and-white (or colour) photos, any size: files and folders in, PNGs out.

The network sees the photo's L resized to its training size; its ab is upsampled to the full size and
merged with the photo's own L, so the result keeps every detail of the original.
"""
import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from common.cli import UserError, add_common_args, guarded, prepare
from common.data import IMAGE_SUFFIXES, ImageError, image_size, read_image, to_rgb8, writable_dir
from common.engine import classifier_only, load_model, training_size
from common.inference import colorize_batch, lightness, write_png

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
BATCH_PIXELS = 32_000_000  # a batch holds at most this many full-size pixels, so big photos go one by one
SUFFIXES = {"color": "_color.png", "compare": "_compare.png", "confidence": "_confidence.png"}


def default_checkpoint():
    for name in ("classifier.pt", "network3.pt"):
        if (PRETRAINED / name).is_file():
            return PRETRAINED / name
    return PRETRAINED / "network3.pt"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders (searched recursively)")
    p.add_argument("-o", "--out", required=True, help="output folder (created if missing)")
    p.add_argument("--checkpoint", help="model (default: the best shipped one in pretrained/)")
    p.add_argument("--size", type=int, help="size the network sees (default: the size it was trained at)")
    p.add_argument("--temperature", type=float, help="classification models: annealed-mean temperature")
    p.add_argument("--compare", action="store_true", help="also write gray | colorized (| original, for colour input)")
    p.add_argument("--confidence", action="store_true",
                   help="classification models: also write a per-pixel uncertainty map (entropy of the bins)")
    p.add_argument("--batch-size", type=int, default=8, help="photos per forward pass (default: %(default)s)")
    p.add_argument("--max-pixels", type=float, default=100e6,
                   help="refuse larger images, a decompression-bomb guard (default: %(default).0f)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    add_common_args(p)
    args = p.parse_args(argv)
    args.checkpoint = Path(args.checkpoint) if args.checkpoint else default_checkpoint()
    return args


def gather(inputs):
    """(file, path relative to the output folder) for every input; folders are searched recursively."""
    found, missing = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            found += [(f, f.relative_to(item)) for f in sorted(item.rglob("*"))
                      if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            missing.append(item)
    return found, missing


def outputs_for(out, relative):
    stem = out / relative.parent / relative.stem
    return {kind: stem.with_name(stem.name + suffix) for kind, suffix in SUFFIXES.items()}


def panel(img, height):
    rgb = to_rgb8(img)
    scale = min(1.0, height / rgb.shape[0])
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb


def comparison(original, colour, height=768):
    gray = np.repeat(np.rint(lightness(original) * 2.55).clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
    panels = [panel(gray, height), panel(colour, height)]
    if original.ndim == 3 and not (original[..., 0] == original[..., 1]).all():
        panels.append(panel(original, height))
    return np.hstack(panels)


def heat_map(confidence):
    import matplotlib

    return (matplotlib.colormaps["magma"](np.clip(confidence, 0, 1))[..., :3] * 255).astype(np.uint8)


def load(path, max_pixels):
    size = image_size(path)
    if size and size[0] * size[1] > max_pixels:
        raise ImageError(f"{path}: {size[0]}x{size[1]} is {size[0] * size[1] / 1e6:.0f} MP, above --max-pixels "
                         f"{max_pixels / 1e6:.0f} MP; raise the limit if you trust the file")
    img = read_image(path)
    if img.shape[0] * img.shape[1] > max_pixels:
        raise ImageError(f"{path}: {img.shape[1]}x{img.shape[0]} is above --max-pixels; raise the limit if you "
                         "trust the file")
    return img


def batches(jobs, args, skipped, bar):
    """Decoded photos in groups of at most --batch-size and BATCH_PIXELS; bad files go to `skipped`."""
    batch, pixels = [], 0
    for path, outputs in jobs:
        try:
            img = load(path, args.max_pixels)
        except ImageError as e:
            skipped.append(str(e))
            tqdm.write(f"skipped {e}", file=sys.stderr)
            bar.update(1)
            continue
        if batch and (len(batch) >= args.batch_size or pixels + img.shape[0] * img.shape[1] > BATCH_PIXELS):
            yield batch
            batch, pixels = [], 0
        batch.append((path, outputs, img))
        pixels += img.shape[0] * img.shape[1]
    if batch:
        yield batch


@guarded
def main(argv=None):
    args = parse_args(argv)
    device = prepare(args)
    model, state = load_model(args.checkpoint, device)
    if args.confidence:
        classifier_only("--confidence", model, state, args.checkpoint)
    if args.temperature is not None:
        classifier_only("--temperature", model, state, args.checkpoint)
        model.temperature = args.temperature
    size = args.size or training_size(state)
    files, missing = gather(args.inputs)
    if not files and not missing:
        raise UserError(f"no images in {' '.join(args.inputs)} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    out = writable_dir(args.out)
    skipped = [f"{m}: no such file or folder" for m in missing]
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    inputs = {f.resolve() for f, _ in files}
    jobs, existing = [], 0
    for path, relative in files:
        outputs = outputs_for(out, relative)
        if any(o.resolve() in inputs for o in outputs.values()):
            skipped.append(f"{path}: its output name would overwrite an input; choose another --out")
            print(f"skipped {skipped[-1]}", file=sys.stderr)
        elif outputs["color"].exists() and not args.overwrite:
            existing += 1
        else:
            jobs.append((path, outputs))
    written, pixels, tic = 0, 0, time.perf_counter()
    with tqdm(total=len(jobs), unit="photo", desc="colorize", disable=None) as bar:
        for batch in batches(jobs, args, skipped, bar):
            results = colorize_batch(model, [img for _, _, img in batch], size, device, confidence=args.confidence)
            for (path, outputs, img), (colour, confidence) in zip(batch, results):
                try:
                    write_png(outputs["color"], colour)
                    if args.compare:
                        write_png(outputs["compare"], comparison(img, colour))
                    if confidence is not None:
                        write_png(outputs["confidence"], heat_map(confidence))
                except OSError as e:
                    skipped.append(f"{path}: cannot write {outputs['color'].parent} ({e.strerror or e})")
                    tqdm.write(f"skipped {skipped[-1]}", file=sys.stderr)
                    continue
                written += 1
                pixels += img.shape[0] * img.shape[1]
            bar.update(len(batch))
    seconds = time.perf_counter() - tic
    summary = f"{written} written to {out}, {len(skipped)} skipped"
    if existing:
        summary += f", {existing} already there (--overwrite to redo)"
    print(f"{summary}; {pixels / 1e6:.1f} MP in {seconds:.1f}s ({args.checkpoint.name}, {device})")
    if skipped:
        print("skipped:\n  " + "\n  ".join(skipped), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
