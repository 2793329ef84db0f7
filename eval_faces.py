"""Faces in scenes: how much face-aware colorization helps on whole pictures, measured on the real test split.

No portrait set with ground truth is at hand, so each test face is placed (seeded, at 15-40% of the side) into a
larger scene made from another test picture, blurred and enlarged so that the scene holds no second face. Every
scene is colorized whole, plainly and face-aware; ab MSE (from the written 8-bit pictures, as everywhere) is
measured on the face's square and on the whole picture, and the detector's hit rate is counted.
"""
import argparse
from pathlib import Path

import cv2
import numpy as np

from common.cli import UserError, add_common_args, guarded, prepare
from common.evaluation import gray, model_and_faces
from common.faces import FRAMING_FILE, crop_square, find_boxes, load_framing
from common.files import default_model, writable_dir
from common.inference import colorize, lightness
from common.metrics import ab_mse, bootstrap
from common.plots import grid_image, write_json, write_png

SCENE = 512
FACE_SHARE = (0.15, 0.40)
BLUR = 20  # sigma at 128 px: lighter blurs leave a face the detector finds (sigma 6: 49 false boxes in 75 scenes)


def scene(faces, i, rng, blur=BLUR):
    """Face i pasted at a random size and place into another picture, blurred and enlarged; (scene, square)."""
    other = faces[(i + rng.integers(1, len(faces))) % len(faces)]
    background = cv2.resize(cv2.GaussianBlur(other, (0, 0), blur), (SCENE, SCENE), interpolation=cv2.INTER_CUBIC)
    side = int(rng.uniform(*FACE_SHARE) * SCENE)
    x, y = (int(v) for v in rng.integers(0, SCENE - side + 1, 2))
    background[y:y + side, x:x + side] = cv2.resize(faces[i], (side, side), interpolation=cv2.INTER_AREA)
    return background, (x, y, side)


def overlap(a, b):
    """Intersection over union of two squares (x, y, side)."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1]))
    return w * h / (a[2] ** 2 + b[2] ** 2 - w * h)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default="data/split", help="split made by split_data.py (default: %(default)s)")
    p.add_argument("--checkpoint", default=str(default_model()), help="(default: %(default)s)")
    p.add_argument("--out", default="runs/faces-in-scenes", help="(default: %(default)s)")
    p.add_argument("--faces-min-size", type=int, default=40, help="as colorize.py's (default: %(default)s)")
    p.add_argument("--background-blur", type=float, default=BLUR, metavar="SIGMA",
                   help="blur of the enlarged picture behind the pasted face, at 128 px; a light one (4) leaves a "
                        "large face behind it that the detector finds, a close-up beside the pasted face "
                        "(default: %(default)s, no face behind)")
    p.add_argument("--split", choices=["test", "train"], default="test",
                   help="whose faces make the scenes: train to tune on, test to report (default: %(default)s)")
    add_common_args(p)
    return p.parse_args(argv)


def score_scene(model, size, device, faces, i, rng, face_settings, blur=BLUR):
    """Scene i colorized plainly and face-aware: its row of figures and its pictures for the grid."""
    truth, (x, y, side) = scene(faces, i, rng, blur)
    plain = colorize(model, [truth], size, device)[0]
    aware = colorize(model, [truth], size, device, faces=face_settings)[0]
    found = [crop_square(box, face_settings[0]) for box in find_boxes(lightness(truth), face_settings[1])]
    region = np.s_[y:y + side, x:x + side]
    row = {"face_side": side, "faces_used": aware.faces,
           "hit": any(overlap(square, (x, y, side)) > 0.5 for square in found),
           "face_plain": ab_mse(plain.rgb[region], truth[region]),
           "face_aware": ab_mse(aware.rgb[region], truth[region]),
           "whole_plain": ab_mse(plain.rgb, truth), "whole_aware": ab_mse(aware.rgb, truth)}
    return row, (gray(truth), plain.rgb, aware.rgb, truth)


def summarize(rows, crop_mse, checkpoint):
    """Means with bootstrap intervals, and the intervals of what face-aware colour gains."""
    table = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0] if k != "picture"}
    summary = {"scenes": len(rows), "scene_side": SCENE, "face_share": FACE_SHARE, "checkpoint": checkpoint,
               "hit_rate": float(table["hit"].mean()), "hits": int(table["hit"].sum()),
               "faces_used": int(table["faces_used"].sum()),
               "crop_mse": float(np.mean(crop_mse))}
    for key in ("face_plain", "face_aware", "whole_plain", "whole_aware"):
        summary[key], summary[key + "_ci95"] = float(table[key].mean()), list(bootstrap(table[key]))
    for key, (a, b) in {"face_gain_ci95": ("face_plain", "face_aware"),
                        "whole_gain_ci95": ("whole_plain", "whole_aware")}.items():
        summary[key] = list(bootstrap(table[a] - table[b]))
    return summary


def report(summary, out):
    print(f"{summary['scenes']} scenes of {SCENE} px, faces at {FACE_SHARE[0]:.0%}-{FACE_SHARE[1]:.0%} of the side, "
          f"{summary['checkpoint']}; ab MSE with 95% bootstrap intervals")
    for key, label in (("face_plain", "face region, plain"), ("face_aware", "face region, face-aware"),
                       ("whole_plain", "whole picture, plain"), ("whole_aware", "whole picture, face-aware")):
        low, high = summary[key + "_ci95"]
        print(f"  {label:<28} {summary[key]:7.2f} [{low:.2f}, {high:.2f}]")
    print(f"  {'the crops themselves':<28} {summary['crop_mse']:7.2f}")
    print(f"  plain - face-aware: face region {summary['face_plain'] - summary['face_aware']:+.2f} "
          f"[{summary['face_gain_ci95'][0]:+.2f}, {summary['face_gain_ci95'][1]:+.2f}], whole picture "
          f"{summary['whole_plain'] - summary['whole_aware']:+.2f} "
          f"[{summary['whole_gain_ci95'][0]:+.2f}, {summary['whole_gain_ci95'][1]:+.2f}]")
    print(f"  detector found the face in {summary['hits']} of {summary['scenes']} scenes "
          f"({summary['hit_rate']:.0%}), {summary['faces_used']} faces coloured apart; wrote "
          f"{out / 'faces_in_scenes.json'} and {out / 'scenes.png'}")


@guarded
def main(argv=None):
    args = parse_args(argv)
    device = prepare(args)
    model, size, faces, names = model_and_faces(args.checkpoint, args.data, args.split, device)
    out = writable_dir(Path(args.out) / args.split)
    if not FRAMING_FILE.is_file():
        raise UserError(f"{FRAMING_FILE}: missing; run `python calibrate_faces.py` first")
    face_settings, rng = (load_framing(), args.faces_min_size), np.random.default_rng(args.seed)
    crop_mse = [ab_mse(result.rgb, face) for result, face in zip(colorize(model, faces, size, device), faces)]
    rows, shown = [], []
    for i, name in enumerate(names):
        row, pictures = score_scene(model, size, device, faces, i, rng, face_settings, args.background_blur)
        rows.append({"picture": name, **row})
        if len(shown) < 4:
            shown.append(pictures)
    summary = summarize(rows, crop_mse, args.checkpoint)
    write_json(out / "faces_in_scenes.json", {"summary": summary, "scenes": rows})
    write_png(out / "scenes.png", grid_image(shown, ("gray", "plain", "face-aware", "ground truth")))
    report(summary, out)


if __name__ == "__main__":
    main()
