"""Colorize your own black-and-white (or colour) photos and films, any size: files and folders in, PNGs and MP4s
out (a film's audio copied as it is, its colour kept steady along the motion from frame to frame).

The network sees the photo's L resized to its training size; its ab is upsampled to the full size and
merged with the photo's own L, so the result keeps every detail of the original. With a hint model
(pretrained/hints.pt) you can say what colour a few places are: --hint X,Y,COLOUR, or a hint picture
painted in any editor (--hints).
"""
import argparse
import sys
import time
from pathlib import Path

from common.cli import UserError, add_common_args, guarded, keep_freed_memory, prepare
from common.files import default_model

BATCH_PIXELS = 32_000_000  # a batch holds at most this many full-size pixels, so big photos go one by one


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders (searched recursively)")
    p.add_argument("-o", "--out", required=True, help="output folder (created if missing)")
    p.add_argument("--checkpoint", help="model (default: the best shipped one in pretrained/, unet_ensemble.pt; with "
                   "hints, hints.pt; with --confidence or --temperature, unet_classifier.pt)")
    p.add_argument("--hints", type=Path, metavar="PATH",
                   help="a hint picture painted over a copy of the photo in any editor (any scale, same aspect "
                        "ratio): every opaque pixel of a PNG with transparency, or every non-gray pixel of an RGB "
                        "picture, is a hint of its own colour; for several photos, a folder of hint pictures named "
                        "like the photos")
    p.add_argument("--hint", action="append", type=hint_point, default=[], metavar="X,Y,COLOUR",
                   help="one hint at pixel X,Y of the photo (0,0 top left), COLOUR as #rrggbb or a name (red, navy, "
                        "skyblue...); repeatable")
    p.add_argument("--size", type=int, help="size the network sees (default: the size it was trained at)")
    p.add_argument("--temperature", type=float,
                   help="classifier: annealed-mean temperature (without --checkpoint: the best shipped classifier)")
    p.add_argument("--compare", action="store_true",
                   help="also write gray | colorized (| original, for colour input); with faces colorized apart, "
                        "the whole-photo result beside it")
    p.add_argument("--confidence", action="store_true",
                   help="classifier: also write a per-pixel uncertainty map (entropy of the bins), with rings on "
                        "the places where a colour hint would help most")
    p.add_argument("--faces", choices=["auto", "off"], default="auto",
                   help="auto: find faces and colorize each at the framing the models learned, blended into the "
                        "whole photo (a photo that is itself a face crop is left as it is); off: the whole photo "
                        "only (default: %(default)s)")
    p.add_argument("--faces-min-size", type=int, default=40, metavar="PX",
                   help="smallest face to use, in the photo's pixels (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=8, help="photos per forward pass (default: %(default)s)")
    p.add_argument("--max-pixels", type=float, default=100e6,
                   help="refuse larger images, a decompression-bomb guard (default: %(default).0f)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    p.add_argument("--steady", action=argparse.BooleanOptionalAction, default=True,
                   help="films: carry colour from frame to frame along the motion, afresh at each cut; "
                        "--no-steady colours every frame on its own (default: on)")
    p.add_argument("--hint-frame", type=int, default=0, metavar="N",
                   help="films: the frame (0 first) the --hints picture and --hint points belong to; they move "
                        "with the picture to the end of its shot (default: %(default)s)")
    add_common_args(p)
    args = p.parse_args(argv)
    args.checkpoint = Path(args.checkpoint) if args.checkpoint else default_model(
        hints=bool(args.hints or args.hint), bins=args.confidence or args.temperature is not None)
    return args


def hint_point(text):
    from common.hints import parse_point

    try:
        return parse_point(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def hints_for(path, relative, shape, args, size, pictures):
    """The hints of one photo (None without any): its hint picture, if one is given or matched by name, and
    the --hint points. ImageError names the file and the problem."""
    from common.hints import Hints, point_hints
    from common.images import ImageError
    from common.photos import hint_picture

    if args.hints is None and not args.hint:
        return None
    hints = Hints.none()
    picture = args.hints if args.hints is not None and args.hints.is_file() else pictures.get(relative.with_suffix(""))
    if picture is not None:
        hints = hints + hint_picture(picture, shape)
    try:
        return hints + point_hints(args.hint, shape, size)
    except ValueError as e:
        raise ImageError(f"{path}: {e}") from e


def batches(jobs, args, skip, size, pictures):
    """Decoded photos and their hints in groups of at most --batch-size and BATCH_PIXELS; a bad file (photo or
    hint picture) goes to `skip`."""
    from common.images import ImageError, read_photo

    batch, pixels = [], 0
    for path, relative, outputs in jobs:
        try:
            img = read_photo(path, args.max_pixels)
            hints = hints_for(path, relative, img.shape[:2], args, size, pictures)
        except ImageError as e:
            skip(str(e))
            continue
        if batch and (len(batch) >= args.batch_size or pixels + img.shape[0] * img.shape[1] > BATCH_PIXELS):
            yield batch
            batch, pixels = [], 0
        batch.append((path, outputs, img, hints))
        pixels += img.shape[0] * img.shape[1]
    if batch:
        yield batch


def write_outputs(outputs, img, colour, confidence, compare, whole=None):
    from common.photos import comparison, heat_map, hint_places, mark_places
    from common.plots import write_png

    write_png(outputs["color"], colour)
    if compare:
        write_png(outputs["compare"], comparison(img, colour, whole=whole))
    if confidence is not None:
        write_png(outputs["confidence"], mark_places(heat_map(confidence), hint_places(confidence)))


def model_for(args, device):
    """The checkpoint's model, the picture size it sees and the face settings, with every flag that does not
    fit it refused in one line."""
    from common.checkpoint import classifier_only, load_model, training_size
    from common.faces import FRAMING_FILE, load_framing

    model, state = load_model(args.checkpoint, device)
    if args.confidence:
        classifier_only("--confidence", model, state, args.checkpoint)
    if args.temperature is not None:
        classifier_only("--temperature", model, state, args.checkpoint)
    if (args.hints or args.hint) and not model.takes_hints:
        raise UserError(f"--hints/--hint need a hint model; {args.checkpoint} takes no hints "
                        "(use --checkpoint pretrained/hints.pt, or train one with make train HINTS=1)")
    faces = None
    if args.faces == "auto":
        if not FRAMING_FILE.is_file():
            raise UserError(f"{FRAMING_FILE}: missing; run `python calibrate_faces.py` or pass --faces off")
        faces = (load_framing(), args.faces_min_size)
    return model, args.size or training_size(state), faces


def inputs_for(args):
    """The photos found (file, path relative to the output folder), the inputs missing, the hint pictures."""
    from common.files import IMAGE_SUFFIXES
    from common.photos import gather, hint_pictures

    if args.hints is not None and not args.hints.exists():
        raise UserError(f"--hints {args.hints}: no such hint picture or folder")
    files, missing = gather(args.inputs)
    if not files and not missing:
        raise UserError(f"no images in {' '.join(args.inputs)} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    if (args.hint or (args.hints is not None and args.hints.is_file())) and len(files) + len(missing) != 1:
        raise UserError("--hint and a --hints picture belong to one photo; for several photos pass --hints FOLDER "
                        "with a hint picture named like each photo")
    return files, missing, hint_pictures(args.hints) if args.hints is not None and args.hints.is_dir() else {}


class Tally:
    """What a run did, for its summary line: photos written and skipped (each skip said at once), pixels,
    faces and hinted photos."""

    def __init__(self):
        self.written, self.pixels, self.faces, self.hinted, self.frames, self.skipped = 0, 0, 0, 0, 0, []

    def skip(self, line):
        from tqdm import tqdm

        self.skipped.append(line)
        tqdm.write(f"skipped {line}", file=sys.stderr)

    def add(self, img, result, hints):
        self.written += 1
        self.pixels += img.shape[0] * img.shape[1]
        self.faces += result.faces
        self.hinted += hints is not None and len(hints) > 0


def colorize_all(jobs, args, model, size, faces, pictures, device, tally):
    """Every job's photo colorized and written, in batches, with a progress bar."""
    from tqdm import tqdm

    from common.inference import colorize

    with tqdm(total=len(jobs), unit="photo", desc="colorize", disable=None) as bar:

        def unreadable(line):
            tally.skip(line)
            bar.update(1)

        for batch in batches(jobs, args, unreadable, size, pictures):
            results = colorize(model, [img for _, _, img, _ in batch], size, device, args.confidence, faces,
                               [hints for *_, hints in batch], args.temperature)
            for (path, outputs, img, hints), result in zip(batch, results):
                whole = None
                if args.compare and result.faces:  # show what the faces changed
                    whole = colorize(model, [img], size, device, hints=[hints], temperature=args.temperature)[0].rgb
                try:
                    write_outputs(outputs, img, result.rgb, result.confidence, args.compare, whole)
                except OSError as e:
                    tally.skip(f"{path}: cannot write {outputs['color'].parent} ({e.strerror or e})")
                    continue
                tally.add(img, result, hints)
            bar.update(len(batch))


def colorize_films(jobs, args, model, size, faces, pictures, device, tally):
    """Every film colorized frame by frame into an MP4 beside the photos, with a progress bar of its frames."""
    from tqdm import tqdm

    from common.images import ImageError
    from common.video import FilmColour, clip_info, write_clip

    for path, relative, outputs in jobs:
        try:
            frames, shape = clip_info(path)
            hints = hints_for(path, relative, shape, args, size, pictures)
            colour = FilmColour(model, size, device, faces, hints, args.hint_frame, args.steady, args.temperature)
            with tqdm(total=frames, unit="frame", desc=path.name, disable=None, leave=False) as bar:
                write_clip(path, outputs["color"], colour, bar.update)
        except ImageError as e:
            tally.skip(str(e))
            continue
        tally.written += 1
        tally.frames += colour.index


def summary(tally, existing, out, args, faces, seconds, device):
    line = f"{tally.written} written to {out}, {len(tally.skipped)} skipped"
    if tally.frames:
        line += f", {tally.frames} film frames"
    if existing:
        line += f", {existing} already there (--overwrite to redo)"
    if faces:
        line += f", {tally.faces} face{'s' * (tally.faces != 1)} colorized at the training framing"
    if args.hints or args.hint:
        line += f", {tally.hinted} with colour hints"
    return f"{line}; {tally.pixels / 1e6:.1f} MP in {seconds:.1f}s ({args.checkpoint.name}, {device})"


@guarded
def main(argv=None):
    args = parse_args(argv)
    from common.files import writable_dir  # the heavy imports come after the arguments: --help answers at once
    from common.photos import is_film, plan

    device = prepare(args)
    keep_freed_memory()  # each strip reuses the last one's memory instead of page-faulting it in anew
    model, size, faces = model_for(args, device)
    files, missing, pictures = inputs_for(args)
    out = writable_dir(args.out)
    jobs, refused, existing = plan(files, out, args.overwrite)
    tally, tic = Tally(), time.perf_counter()
    for line in [f"{m}: no such file or folder" for m in missing] + refused:
        tally.skip(line)
    colorize_all([job for job in jobs if not is_film(job[0])], args, model, size, faces, pictures, device, tally)
    colorize_films([job for job in jobs if is_film(job[0])], args, model, size, faces, pictures, device, tally)
    print(summary(tally, existing, out, args, faces, time.perf_counter() - tic, device))
    if tally.skipped:
        print("skipped:\n  " + "\n  ".join(tally.skipped), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
