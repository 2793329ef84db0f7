"""Steady against frame-by-frame colour on clips whose colour and motion are known, made from the test split's
(or, to tune on, the training split's) faces (common/clips.py): a camera panning and zooming over a wall of faces,
a face moving across a scene, and two such shots joined by a hard cut. Per clip and way: ab MSE per frame against
the truth, the temporal warp error of Lai et al. (2018) along the exact flow, and CDC (colour distribution
consistency, as ColorMNet reports it); and whether the first frame after the cut is exactly a fresh colorization."""
import argparse

import cv2
import numpy as np

import common  # noqa: F401  (before torch: it tunes OpenMP, see common/__init__.py)

# isort: split
from common.cli import UserError, add_common_args, guarded, prepare
from common.clips import camera_move, joined, moving_face
from common.evaluation import model_and_faces
from common.faces import FRAMING_FILE, load_framing
from common.files import default_model, writable_dir
from common.metrics import ab_mse, colour_distribution_consistency, warp_error
from common.plots import grid_image, write_json, write_png
from common.video import CARRY, FilmColour

WAYS = {"frame by frame": False, "steady": True}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default="data/split", help="split made by split_data.py (default: %(default)s)")
    p.add_argument("--checkpoint", default=str(default_model()), help="(default: %(default)s)")
    p.add_argument("--frames", type=int, default=40, help="frames per clip (default: %(default)s)")
    p.add_argument("--faces", choices=["auto", "off"], default="auto", help="as colorize.py's (default: auto)")
    p.add_argument("--out", default="runs/video", help="(default: %(default)s)")
    p.add_argument("--split", choices=["test", "train"], default="test",
                   help="whose faces make the clips: train to tune on, test to report (default: %(default)s)")
    p.add_argument("--carry", type=float, default=CARRY, metavar="SHARE",
                   help="steady: share of the carried colour where the flow holds (default: %(default)s)")
    add_common_args(p)
    args = p.parse_args(argv)
    if args.frames < 4:
        p.error("--frames: at least 4, two for each shot of the cut")
    return args


def wall(faces, side=256):
    """Six faces in two rows of three, each `side` pixels: a picture to move a camera over."""
    tiles = [cv2.resize(f, (side, side), interpolation=cv2.INTER_CUBIC) for f in faces[:6]]
    return np.vstack([np.hstack(tiles[:3]), np.hstack(tiles[3:6])])


def clips_of(faces, count, rng):
    """The three clips, each `count` frames, from the test faces (chosen with `rng`)."""
    pick = rng.permutation(len(faces))
    walls = [wall([faces[i] for i in pick[k:k + 6]]) for k in (0, 6)]
    scene = cv2.resize(cv2.GaussianBlur(faces[pick[12]], (0, 0), 20), (640, 360), interpolation=cv2.INTER_CUBIC)
    return {"pan and zoom": camera_move(walls[0], count),
            "moving face": moving_face(scene, faces[pick[13]], count),
            "cut": joined(camera_move(walls[0], count // 2), camera_move(walls[1], count - count // 2,
                                                                           zoom=(1.2, 1.0), travel=(-0.2, 0.1)))}


def half(frame):
    return cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)


def score(clip, outputs):
    return {"ab_mse": float(np.mean([ab_mse(o, t) for o, t in zip(outputs, clip.frames)])),
            "warp_error": float(np.mean([warp_error(outputs[i - 1], outputs[i], back)
                                         for i, back in enumerate(clip.back) if back is not None])),
            "cdc": colour_distribution_consistency(outputs)}


def evaluate_clips(clips, model, size, device, faces, carry=CARRY):
    """Every clip coloured both ways: {clip: {way: scores}} and the outputs."""
    table, outputs = {}, {}
    for name, clip in clips.items():
        for way, steady in WAYS.items():
            colour = FilmColour(model, size, device, faces=faces, steady=steady, carry=carry)
            outputs[name, way] = [colour(frame) for frame in clip.frames]
            table.setdefault(name, {})[way] = score(clip, outputs[name, way])
    return table, outputs


def report(table, fresh_after_cut):
    print(f"{'clip':<14}{'way':<16}{'ab MSE':>9}{'warp error':>12}{'CDC':>9}")
    for name, ways in table.items():
        for way, s in ways.items():
            print(f"{name:<14}{way:<16}{s['ab_mse']:>9.2f}{s['warp_error']:>12.5f}{s['cdc']:>9.5f}")
        steady, plain = ways["steady"], ways["frame by frame"]
        print(f"{'':<14}{'steady / plain':<16}{steady['ab_mse'] / plain['ab_mse']:>9.3f}"
              f"{steady['warp_error'] / plain['warp_error']:>12.3f}{steady['cdc'] / plain['cdc']:>9.3f}")
    print(f"first frame after the cut is a fresh colorization: {'yes' if fresh_after_cut else 'NO'}")


@guarded
def main(argv=None):
    args = parse_args(argv)
    device = prepare(args)
    model, size, faces_shown, _ = model_and_faces(args.checkpoint, args.data, args.split, device)
    if len(faces_shown) < 14:
        raise UserError(f"{args.data}: the clips need 14 {args.split} pictures, the split has {len(faces_shown)}")
    if args.faces == "auto" and not FRAMING_FILE.is_file():
        raise UserError(f"{FRAMING_FILE}: missing; run `python calibrate_faces.py` or pass --faces off")
    faces = (load_framing(), 40) if args.faces == "auto" else None
    out = writable_dir(args.out)
    clips = clips_of(faces_shown, args.frames, np.random.default_rng(args.seed))
    table, outputs = evaluate_clips(clips, model, size, device, faces, args.carry)
    cut = args.frames // 2
    fresh = np.array_equal(outputs["cut", "steady"][cut], outputs["cut", "frame by frame"][cut])
    write_json(out / "video.json", {"checkpoint": args.checkpoint, "frames": args.frames, "faces": args.faces,
                                    "split": args.split, "carry": args.carry, "clips": table,
                                    "fresh_after_cut": bool(fresh)})
    shown = range(args.frames // 4, args.frames // 4 + 4)
    strip = [[half(frames[i]) for i in shown] for frames in
             [outputs["pan and zoom", way] for way in WAYS] + [clips["pan and zoom"].frames]]
    write_png(out / "strip.png", grid_image(strip, [f"frame {i}" for i in shown], [*WAYS, "ground truth"]))
    report(table, fresh)
    print(f"wrote {out / 'video.json'} and {out / 'strip.png'}")


if __name__ == "__main__":
    main()
