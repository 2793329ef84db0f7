"""Measure how face_images frames its faces, for face-aware colorization: run the face detector over the
training pictures and write the median box (size and position relative to the picture) as JSON."""
import argparse
import json
from pathlib import Path

from common.cli import UserError, guarded
from common.faces import FRAMING_FILE, calibrate
from common.files import writable_dir
from common.inference import lightness
from common.prepare import prepared_part


@guarded
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default="data/split", help="split made by split_data.py (default: %(default)s)")
    p.add_argument("--out", default=FRAMING_FILE, help="where the framing goes (default: %(default)s)")
    args = p.parse_args(argv)
    writable_dir(Path(args.out).parent)  # before the minute of detecting, not after
    images = prepared_part(args.data, "train", 128).squares[:]
    framing = calibrate([lightness(img.permute(1, 2, 0).numpy()) for img in images])
    if framing is None:
        raise UserError(f"{args.data}: the detector found no face in the training pictures; nothing written")
    Path(args.out).write_text(json.dumps(framing, indent=1) + "\n")
    print(f"faces found in {framing['faces_found']} of {framing['pictures']} training pictures; the face box is "
          f"{framing['box_over_side']:.3f} of the picture's side, the picture's centre "
          f"({framing['centre_offset'][0]:+.3f}, {framing['centre_offset'][1]:+.3f}) box widths from the box's; "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
