"""Evaluate checkpoints on the test split: loss in each model's units plus common metrics measured from
the colorized PNGs it writes (ab MSE, PSNR, SSIM, CIEDE2000, AuC, colourfulness), each with a 95%
bootstrap interval over the pictures; with several checkpoints (or decodings: temperatures, the mirror
average), paired comparisons; with --hints, ab MSE and PSNR given exactly N colour-hint points per picture. On a
validation split (split_data.py --within), a sweep of decodings also chooses each model's own; --store then writes
the chosen one, and its test-split metrics, into the checkpoint."""
import argparse
from collections import Counter
from contextlib import contextmanager
from itertools import product
from pathlib import Path
from typing import NamedTuple

from common.checkpoint import a_model, classifier_only, load_model, training_size, write_state
from common.cli import UserError, add_common_args, guarded, prepare
from common.evaluation import DECODING, chosen_decoding, evaluate, hint_sweep, recoloured
from common.files import PRETRAINED, held_out_part, writable_dir
from common.hints import EVAL_POINTS
from common.metrics import RESAMPLES, bootstrap, compare
from common.plots import hint_curves, write_json
from common.prepare import prepared_part
from common.regions import photos_that_are_not_faces, region_table

REPORT_MSE = {(3, 3, 3, 3, 3): 32.89, (8, 16, 32, 64, 128): 23.62, (16, 32, 64, 128, 256): 22.19}
REPORT_TANH = 0.0013
LABELS = {"mse_ab": "ab MSE (raw units)", "psnr": "PSNR (dB)", "ssim": "SSIM", "ciede2000": "CIEDE2000",
          "auc": "AuC (ab, 0..150)", "colourfulness": "colourfulness", "colourfulness_truth": "colourfulness (truth)"}
BETTER = {"mse_ab": -1, "psnr": 1, "ssim": 1, "ciede2000": -1, "auc": 1}  # which way is better, for verdicts


def report_figure(state):
    config = state.get("config", {})
    if state["model"] != "colorizer" or config.get("unet") or config.get("hints"):
        return None
    return REPORT_TANH if config.get("tanh") else REPORT_MSE.get(tuple(config.get("features", ())))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", nargs="+", metavar="PT",
                   help="model(s) to evaluate; the first is the one the others are compared with (default: "
                        "pretrained/network3.pt, tanh.pt with --tanh, classifier.pt with --classifier)")
    shipped = p.add_mutually_exclusive_group()
    shipped.add_argument("--tanh", action="store_true", help="evaluate the shipped tanh model")
    shipped.add_argument("--classifier", action="store_true", help="evaluate the shipped classifier")
    p.add_argument("--data", default="data/split", help="split made by split_data.py (default: %(default)s)")
    p.add_argument("--out", help="where images, grids and metrics go (default: runs/test-<first checkpoint's name>)")
    p.add_argument("--batch-size", type=int, default=10, help="(default: %(default)s)")
    p.add_argument("--temperature", type=float, nargs="+",
                   help="classifiers: annealed-mean temperature(s); several give a sweep, and on a validation split "
                        "the decoding chosen by its rule, in decoding.json (default: the model's)")
    p.add_argument("--mirror", nargs="+", choices=("off", "on"),
                   help="per-pixel models: score without and/or with the mirror average (the mean of the network's "
                        "outputs for each picture and its mirror image); both give a sweep, as --temperature does "
                        "(default: the model's)")
    p.add_argument("--hints", type=int, nargs="+", metavar="N",
                   help="also score with exactly N hint points per picture (3x3 patches of the truth's mean ab at "
                        "centre-weighted positions, a fixed seed, the same points for every model), for each N: "
                        "ab MSE and PSNR per N in hints.json, hints.png and hints_grid.png, on the true pictures and "
                        "on recoloured ones (hue turned per picture); a model that takes no hints scores the same "
                        "at every N")
    p.add_argument("--store", action="store_true",
                   help="write the one decoding scored here (its --temperature, --mirror) and its metrics on the test "
                        "split into the checkpoint, weights untouched: how a file takes the decoding chosen on "
                        "validation faces (make decoding)")
    add_common_args(p)
    args = p.parse_args(argv)
    if args.store and (len(args.checkpoint or ()) > 1 or len(args.temperature or ()) > 1 or len(args.mirror or ()) > 1):
        p.error("--store writes one decoding into one checkpoint: give one --checkpoint and at most one "
                "--temperature and one --mirror")
    if args.hints and not all(0 <= n <= EVAL_POINTS for n in args.hints):
        p.error(f"--hints: each N must be between 0 and {EVAL_POINTS}")
    shipped = "tanh" if args.tanh else "classifier" if args.classifier else "network3"
    args.checkpoint = [Path(c) for c in args.checkpoint or [PRETRAINED / f"{shipped}.pt"]]
    args.out = Path(args.out or f"runs/test-{args.checkpoint[0].stem}")
    return args


class Variant(NamedTuple):
    label: str
    model: object
    state: dict
    path: Path
    temperature: float | None  # None: the model's own, as for mirror
    mirror: bool | None


def checkpoint_names(paths):
    """Names of checkpoints side by side: each file's stem, or where stems repeat (every run's model.pt) the run's
    folder, or where those repeat too the whole path."""
    stems = Counter(path.stem for path in paths)
    names = [path.stem if stems[path.stem] == 1 else path.parent.name for path in paths]
    return names if len(set(names)) == len(names) else [str(path) for path in paths]


def variants(args, device):
    """A Variant for every checkpoint and decoding: one per temperature for a classifier, one per --mirror choice
    for a per-pixel model."""
    loaded = [(path, *load_model(path, device)) for path in args.checkpoint]
    if args.temperature and not any(state["model"] == "classifier" for _, _, state in loaded):
        classifier_only("--temperature", *loaded[0][1:], loaded[0][0])
    for path, model, state in loaded:
        if args.mirror and (model.target != "ab" or "mirror" not in model.config):
            raise UserError(f"--mirror needs a per-pixel network; {path} holds {a_model(state['model'])}"
                            f"{' (its members keep their own decodings)' * (state['model'] == 'ensemble')}")
    names = checkpoint_names([path for path, _, _ in loaded]) if len(loaded) > 1 else [""]
    for (path, model, state), name in zip(loaded, names):
        temperatures = args.temperature if state["model"] == "classifier" and args.temperature else [None]
        mirrors = [m == "on" for m in args.mirror] if args.mirror else [None]
        for t, m in product(temperatures, mirrors):
            decoding = (f" T={t:g}" if t is not None else "") + ("" if m is None else " mirrored" if m else " plain")
            yield Variant(f"{name}{decoding}".strip() or path.stem, model, state, path, t, m)


@contextmanager
def decoded(variant):
    """The variant's model with its mirror choice for the block's work, and its own again after."""
    model, own = variant.model, variant.model.mirror
    if variant.mirror is not None:
        model.settings.mirror = variant.mirror
    try:
        yield model
    finally:
        if variant.mirror is not None:
            model.settings.mirror = own


@guarded
def main(argv=None):
    args = parse_args(argv)
    device = prepare(args)
    out = writable_dir(args.out)
    runs = list(variants(args, device))
    if len({training_size(run.state) for run in runs}) > 1:
        raise UserError("these checkpoints were trained at different sizes; compare models of one picture size")
    part = held_out_part(args.data)
    if args.store:
        check_storable(runs[0], part)
    photos = prepared_part(args.data, "test", training_size(runs[0].state))
    # scored as slices read EVAL_CHUNK at a time, so a large test part is never held whole; the hint protocol
    # works on the pictures at hand
    images, names = (photos.squares[:] if args.hints else photos.squares), photos.names
    results, scores, sweeps = {}, {}, {}
    for run in runs:
        label, t = run.label, run.temperature
        folder = out if len(runs) == 1 else out / label.replace(" ", "-").replace("=", "")
        with decoded(run) as model:
            metrics, per_picture = evaluate(model, images, names, device, out=folder, batch_size=args.batch_size,
                                            temperature=t)
            results[label], scores[label] = metrics, per_picture
            show(run.path, run.state, metrics, f"{len(names)} {part}", device)
            write_json(folder / "metrics.json", {"checkpoint": str(run.path), "report": report_figure(run.state),
                                                 "metrics": metrics})
            print(f"wrote {len(names)} PNGs, grid.png, extremes.png, per_picture.csv and metrics.json to {folder}")
            if args.hints:
                sweeps[label] = hint_sweep(model, images, names, device, args.hints, folder, args.batch_size,
                                           temperature=t)
                show_hints(label, model, sweeps[label], "true colours")
                sweeps[f"{label}, recoloured"] = hint_sweep(model, recoloured(images), names, device, args.hints,
                                                            folder, args.batch_size, "hints_grid_recoloured.png", t)
                show_hints(label, model, sweeps[f"{label}, recoloured"],
                           "recoloured: each picture's hue turned, colours only hints can tell")
    if sweeps:
        hint_curves(sweeps, out / "hints.png")
        print(f"wrote hints.png and hints.json to {out}")
        regions = {run.label: region_tables(run.model, images, device, training_size(run.state)) for run in runs
                   if run.model.takes_hints}
        write_json(out / "regions.json", regions)
        show_regions(regions)
    if len(runs) > 1:
        write_json(out / "sweep.json", results)
        write_json(out / "comparison.json", paired(scores, len(names)))
    if len(args.temperature or ()) > 1 or len(args.mirror or ()) > 1:
        choose_decodings(runs, results, part, out)
    if args.store:
        store_decoding(runs[0], results[runs[0].label])


def check_storable(run, part):
    """Refuse --store before any work where its result could not be kept."""
    if part != "test":
        raise UserError(f"--store keeps metrics of the test split, and this is a {part} split: choose the decoding "
                        "there, then store it with --data on the test split")
    if run.model.takes_hints:
        raise UserError(f"--store: {run.path} takes hints, and its stored hint tables would no longer match; "
                        "train it with the decoding instead")


def store_decoding(run, metrics):
    """The checkpoint with the decoding just scored as its own, and these metrics in place of its stored ones
    (training's time and device kept): the file then decodes and reports as measured here."""
    config = dict(run.model.config)
    for key in DECODING:
        if key in config:
            config[key] = metrics[key]
    write_state(run.path, {**run.state, "config": config, "metrics": {**run.state["metrics"], **metrics}})
    decoding = decoding_text({k: config[k] for k in DECODING if k in config})
    print(f"{run.path}: {'now decodes ' + decoding + ', with ' if decoding else ''}the metrics above stored")


def choose_decodings(runs, results, part, out):
    """Each swept model's decoding by chosen_decoding's rule: on validation faces, never the test split."""
    if part != "validation":
        print("no decoding is chosen on the test split; sweep on a validation split (split_data.py --within)")
        return
    chosen = {}
    for path in dict.fromkeys(run.path for run in runs):
        sweep = [results[run.label] for run in runs if run.path == path]
        if len(sweep) > 1:
            chosen[str(path)] = chosen_decoding(sweep)
            print(f"{path}: {decoding_text(chosen[str(path)])} by the validation rule (the lowest ab MSE with "
                  "colourfulness within 2% of the truth's)")
    write_json(out / "decoding.json", chosen)


def decoding_text(decoding):
    return ", ".join(f"T = {v:g}" if k == "temperature" else "mirrored" if v else "not mirrored"
                     for k, v in decoding.items())


def show(checkpoint, state, metrics, pictures, device):
    reported = report_figure(state)
    at = (f" at T={metrics['temperature']:g}" if "temperature" in metrics else "") + (
        " mirrored" if metrics["mirror"] else "")
    print(f"{checkpoint}{at} on {pictures} images ({device}); 95% bootstrap intervals over the pictures")
    print(f"  {'test loss (' + metrics['loss_units'] + ')':<44} {metrics['test_loss']:.5g}"
          + (f"   report: {reported}" if reported is not None else ""))
    for key, label in LABELS.items():
        low, high = metrics["ci95"][key]
        print(f"  {label:<44} {metrics[key]:<10.4g} [{low:.4g}, {high:.4g}]")


def region_tables(model, images, device, size):
    """The region protocol on the test faces and on photos that are not faces."""
    faces = [img.permute(1, 2, 0).numpy() for img in images]
    return {"test faces": region_table(model, faces, size, device),
            "photos that are not faces": region_table(model, photos_that_are_not_faces(), size, device)}


def show_regions(regions):
    print("region protocol: one hint per region of the truth, its colour turned 150 degrees; leak (share of the "
          "change outside the region, 0 ideal) and fill (share of the region moved halfway to the hint, 1 ideal)")
    for label, tables in regions.items():
        for pictures, t in tables.items():
            print(f"  {label or 'model'}, {pictures} ({t['pictures']} pictures, {t['hints']} hints): leak "
                  f"{t['leak']:.3f} [{t['leak_ci95'][0]:.3f}, {t['leak_ci95'][1]:.3f}], fill {t['fill']:.3f} "
                  f"[{t['fill_ci95'][0]:.3f}, {t['fill_ci95'][1]:.3f}]")


def show_hints(label, model, table, pictures):
    note = "" if model.takes_hints else " (takes no hints: the same at every N)"
    print(f"{label} with N hint points per picture, {pictures}{note}; 95% bootstrap intervals")
    print(f"  {'N':>4}  {'ab MSE':<26} PSNR (dB)")
    for count, row in table.items():
        (mse_low, mse_high), (psnr_low, psnr_high) = row["ci95"]["mse_ab"], row["ci95"]["psnr"]
        print(f"  {count:>4}  {row['mse_ab']:<7.4g} [{mse_low:.4g}, {mse_high:.4g}]  "
              f"{row['psnr']:.4g} [{psnr_low:.4g}, {psnr_high:.4g}]")


def paired(scores, count):
    """Every variant against the first on the same pictures: the paired bootstrap interval of each metric's
    difference, and a verdict only where the interval excludes 0."""
    (first, base), *others = scores.items()
    table = {}
    print(f"paired differences against {first} ({count} pictures, {RESAMPLES} resamples, 95% intervals):")
    for label, per_picture in others:
        table[label] = compare(per_picture, base)
        for key in LABELS:
            if key == "colourfulness_truth":
                continue
            d, (low, high) = table[label][key]["difference"], table[label][key]["ci95"]
            verdict = "no difference shown" if low <= 0 <= high else (
                f"{label if (d > 0) == (BETTER.get(key, 0) > 0) else first} better" if key in BETTER
                else f"{label} {'higher' if d > 0 else 'lower'}")
            print(f"  {label:<24} {LABELS[key]:<22} {d:+.4g} [{low:+.4g}, {high:+.4g}]  {verdict}")
    for label, per_picture in scores.items():
        gap = per_picture["colourfulness"] - per_picture["colourfulness_truth"]
        low, high = bootstrap(gap)
        print(f"  {label:<24} colourfulness - truth  {gap.mean():+.4g} [{low:+.4g}, {high:+.4g}]  "
              + ("no difference from the truth shown" if low <= 0 <= high else "differs from the truth"))
    return table


if __name__ == "__main__":
    main()
