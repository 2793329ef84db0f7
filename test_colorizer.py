"""Evaluate a checkpoint on the test split: loss in the model's units plus common metrics measured
from the colorized PNGs it writes (ab MSE, PSNR, SSIM, CIEDE2000, AuC, colourfulness)."""
import argparse
from pathlib import Path

from common.checkpoint import classifier_only, load_model, training_size
from common.cli import add_common_args, guarded, prepare
from common.data import load_folder, split_folders, writable_dir
from common.evaluation import evaluate
from common.plots import write_json

REPORT_MSE = {(3, 3, 3, 3, 3): 32.89, (8, 16, 32, 64, 128): 23.62, (16, 32, 64, 128, 256): 22.19}
REPORT_TANH = 0.0013
LABELS = {"mse_ab": "ab MSE (raw units)", "psnr": "PSNR (dB)", "ssim": "SSIM", "ciede2000": "CIEDE2000",
          "auc": "AuC (ab, 0..150)", "colourfulness": "colourfulness", "colourfulness_truth": "colourfulness (truth)"}


def report_figure(state):
    config = state.get("config", {})
    if state["model"] != "colorizer":
        return None
    return REPORT_TANH if config.get("tanh") else REPORT_MSE.get(tuple(config.get("features", ())))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", help="model to evaluate (default: pretrained/network3.pt, tanh.pt with --tanh, "
                                        "classifier.pt with --classifier)")
    shipped = p.add_mutually_exclusive_group()
    shipped.add_argument("--tanh", action="store_true", help="evaluate the shipped tanh model")
    shipped.add_argument("--classifier", action="store_true", help="evaluate the shipped classifier")
    p.add_argument("--data", default="data/split", help="split made by split_data.py (default: %(default)s)")
    p.add_argument("--out", help="where images, grid and metrics go (default: runs/test-<checkpoint name>)")
    p.add_argument("--batch-size", type=int, default=10, help="(default: %(default)s)")
    p.add_argument("--temperature", type=float, nargs="+",
                   help="classifier only: annealed-mean temperature(s); several give a sweep (default: the model's)")
    add_common_args(p)
    args = p.parse_args(argv)
    shipped = "tanh" if args.tanh else "classifier" if args.classifier else "network3"
    args.checkpoint = Path(args.checkpoint or f"pretrained/{shipped}.pt")
    args.out = Path(args.out or f"runs/test-{args.checkpoint.stem}")
    return args


@guarded
def main(argv=None):
    args = parse_args(argv)
    device = prepare(args)
    model, state = load_model(args.checkpoint, device)
    out = writable_dir(args.out)
    images, names = load_folder(split_folders(args.data)[1], size=training_size(state))
    temperatures = args.temperature or [None]
    if args.temperature:
        classifier_only("--temperature", model, state, args.checkpoint)
    results = {}
    for temperature in temperatures:
        if temperature is not None:
            model.temperature = temperature
        folder = out if len(temperatures) == 1 else out / f"T{temperature:g}"
        metrics = evaluate(model, images, names, device, out=folder)
        results[f"{temperature}"] = metrics
        show(args.checkpoint, state, metrics, len(names), device)
        write_json(folder / "metrics.json", {"checkpoint": str(args.checkpoint), "report": report_figure(state),
                                             "metrics": metrics})
        print(f"wrote {len(names)} PNGs, grid.png and metrics.json to {folder}")
    if len(temperatures) > 1:
        write_json(out / "sweep.json", results)


def show(checkpoint, state, metrics, count, device):
    reported = report_figure(state)
    at = f" at T={metrics['temperature']:g}" if "temperature" in metrics else ""
    print(f"{checkpoint}{at} on {count} test images ({device})")
    print(f"  {'test loss (' + metrics['loss_units'] + ')':<44} {metrics['test_loss']:.5g}"
          + (f"   report: {reported}" if reported is not None else ""))
    for key, label in LABELS.items():
        print(f"  {label:<44} {metrics[key]:.4g}")


if __name__ == "__main__":
    main()
