"""Score hint models away from the test split, to choose between training arms without looking at it: the region
protocol (common/regions.py) on three photos in neither split (scikit-image's astronaut, matplotlib's Grace Hopper
and its Minduka gift box, at 256 px), on 10 training faces and on 8 photos composed by make_photos.py from the
training faces alone, each for the network alone and kept inside (what ships); and ab MSE on 75 training faces with
0 and 10 true points and with 10 points on recoloured pictures. docs/hints.md's arm table comes from this:
    python tools/score_hint_models.py pretrained/hints.pt runs/hints-regions/model.pt"""
import argparse
import json
import sys
from pathlib import Path

import matplotlib.cbook
import skimage.data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import inference  # noqa: E402
from common.checkpoint import load_model, training_size  # noqa: E402
from common.cli import UserError, add_common_args, guarded, resolve_device  # noqa: E402
from common.evaluation import as_pictures, hint_sweep, recoloured  # noqa: E402
from common.files import split_parts  # noqa: E402
from common.images import read_image  # noqa: E402
from common.made_photos import make_photos  # noqa: E402
from common.prepare import prepared_part  # noqa: E402
from common.regions import at_side, region_table  # noqa: E402

FACES = 10  # training faces in the region protocol
MADE = 8  # photos made from training faces
MSE_FACES = 75  # training faces scored for ab MSE


def three_photos():
    sample = [read_image(matplotlib.cbook.get_sample_data(name, asfileobj=False))
              for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")]
    return [at_side(p) for p in (skimage.data.astronaut(), *sample)]


def made_photos(data, out, seed):
    """MADE photos composed from the split's training faces only (linked into out/train-faces)."""
    faces = out / "train-faces"
    faces.mkdir(parents=True, exist_ok=True)
    for path in split_parts(data)["train"]:
        if not (faces / path.name).exists():
            (faces / path.name).symlink_to(path.resolve())
    return [at_side(read_image(p)) for p in make_photos(faces, out / "made", MADE, seed, workers=1)]


def network_alone(hints, L, auto_small, ab_small):
    """keep_inside's stand-in that keeps the network's colour as it is."""
    return ab_small


def region_tables(model, sets, size, device):
    """The region protocol on each set, for the network alone and kept inside."""
    kept_inside, tables = inference.keep_inside, {}
    try:
        for how, spread in (("network alone", network_alone), ("kept inside", kept_inside)):
            inference.keep_inside = spread
            tables[how] = {name: region_table(model, pictures, size, device) for name, pictures in sets.items()}
    finally:
        inference.keep_inside = kept_inside
    return tables


def ab_mse(model, part, device, folder):
    """ab MSE on the first MSE_FACES faces of the training `part`: 0 and 10 true points, 10 points on recoloured
    pictures."""
    images, names = part.squares[:MSE_FACES], part.names[:MSE_FACES]
    true = hint_sweep(model, images, names, device, [0, 10], folder)
    turned = hint_sweep(model, recoloured(images), names, device, [10], folder, grid_name="hints_grid_recoloured.png")
    return {"0 true": true[0]["mse_ab"], "10 true": true[10]["mse_ab"], "10 recoloured": turned[10]["mse_ab"]}


@guarded
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split(":")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="hint models to score")
    parser.add_argument("--data", default="data/split", help="split made by split_data.py (its training part)")
    parser.add_argument("--out", type=Path, default=Path("runs/hint-arms"), help="(default: %(default)s)")
    args = add_common_args(parser, seed=0).parse_args(argv)
    device = resolve_device(args.device)
    models = [(checkpoint, *load_model(checkpoint, device)) for checkpoint in args.checkpoints]
    for checkpoint, model, _ in models:  # every file checked before the first is scored
        if not model.takes_hints:
            raise UserError(f"{checkpoint} takes no colour hints; score hint models (train_colorizer.py --hints)")
    photos, made = three_photos(), made_photos(args.data, args.out, args.seed)
    results = {}
    for checkpoint, model, state in models:
        size = training_size(state)
        part = prepared_part(args.data, "train", size)
        sets = {"3 photos": photos, f"{FACES} training faces": as_pictures(part.squares[:FACES]),
                f"{MADE} made photos": made}
        folder = args.out / checkpoint.parent.name / checkpoint.stem
        folder.mkdir(parents=True, exist_ok=True)
        results[str(checkpoint)] = r = {"regions": region_tables(model, sets, size, device),
                                        "mse_ab": ab_mse(model, part, device, folder)}
        cells = [f"{t['leak']:.3f} / {t['fill']:.3f}" for how in r["regions"].values() for t in how.values()]
        print(f"| {checkpoint} | " + " | ".join(cells) + " | " + " | ".join(f"{v:.2f}" for v in r["mse_ab"].values())
              + " |", flush=True)
    (args.out / "arms.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out / 'arms.json'}")


if __name__ == "__main__":
    main()
