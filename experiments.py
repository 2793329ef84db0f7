"""Collect the metrics of several training runs into one markdown table beside the report's figures: one
row per configuration, mean +- standard deviation over its seeds. With --curves, also plot each run's
test loss per epoch and print the spread of its last epochs (why SCHEDULE=cosine exists)."""
import argparse
import json
import statistics
from pathlib import Path

from common.checkpoint import load_checkpoint
from common.cli import UserError, guarded
from common.models import PRESETS, preset
from test_colorizer import LABELS, REPORT_MSE, REPORT_TANH

LAST = 20  # epochs whose test-loss spread shows how much the last one is a lottery


def load(run):
    """A training run's metrics.json, or a checkpoint whose args and metrics test_colorizer.py --store wrote (an
    ensemble's: ensemble.py)."""
    if Path(run).suffix == ".pt":
        return load_checkpoint(run)
    path = Path(run) / "metrics.json"
    if not path.is_file():
        raise UserError(f"{path}: missing; train that run first (make train OUT={run})")
    return json.loads(path.read_text())


def configuration(args, metrics):
    """(name, report figure) of a run; runs from before --classifier said --loss classify, and from before
    --net unet held the preset as a number. The mirror is the decoding that was scored (a shipped file's decoding
    can be chosen after its training, pretrained/README.md); runs scored before metrics said so have it in args."""
    net = str(args.get("net", "?"))
    backbone = "U-Net" if net == "unet" else f"Network {net}"
    hints = ", with hints" if args.get("hints") else ""
    mirror = metrics.get("mirror", args.get("mirror"))
    mirrored = ", mirrored" if mirror else ""
    if args.get("classifier") or args.get("loss") == "classify":
        return f"Classifier, {backbone} backbone{hints}, T = {metrics.get('temperature')}{mirrored}", None
    report = None
    if net.isdigit() and not args.get("hints") and not mirror:
        report = REPORT_TANH if args.get("tanh") else REPORT_MSE.get(PRESETS.get(int(net)))
    return f"{backbone}{' tanh' if args.get('tanh') else ''}{hints}{mirrored}", report


def member_name(member):
    """An ensemble member ({"model", "config"}) named as configuration() names the run that trained it."""
    config = member["config"]
    net = "unet" if config.get("unet") else preset(config["features"]) or "?"
    args = {"net": net, "classifier": member["model"] == "classifier", **{k: config.get(k) for k in
                                                                             ("tanh", "hints", "mirror")}}
    return configuration(args, {"temperature": config.get("temperature")})[0]


def cell(values, mean=".4g", sd=".2g"):
    """Mean +- standard deviation over seeds in these formats, or the one value when the seeds agree."""
    if len(set(values)) == 1:
        return f"{values[0]:{mean}}"
    return f"{statistics.mean(values):{mean}} +- {statistics.stdev(values):{sd}}"


def table(runs):
    groups = {}
    for run in runs:
        data = load(run)
        args, metrics = data["args"], data["metrics"]
        name = (f"Average of {' and '.join(map(member_name, data['config']['members']))}", None) \
            if data.get("model") == "ensemble" else configuration(args, metrics)
        key = (*name, args.get("epochs"), args.get("lr_schedule"))
        groups.setdefault(key, []).append((args.get("seed"), metrics))
    header = ["model", "report test loss", "our test loss", *LABELS.values(), "epochs", "train min", "seeds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (name, report, epochs, _), members in groups.items():
        metrics = [m for _, m in members]
        cells = [name, f"{report}" if report else "-", cell([m["test_loss"] for m in metrics])]
        cells += [cell([m[k] for m in metrics]) for k in LABELS]
        trained = [m["train_seconds"] / 60 for m in metrics if "train_seconds" in m]  # an ensemble trains nothing
        cells += [str(epochs), cell(trained, ".0f", ".0f") if trained else "-",  # whole minutes
                  " ".join("-" if seed is None else str(seed) for seed, _ in members)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def curves(runs, path):
    """Test loss per epoch of each run in one plot (+ JSON), and the spread of its last LAST epochs."""
    from common.plots import test_loss_curves

    histories = {}
    for run in runs:
        data = load(run)
        label = f"{Path(run).name} (schedule {data['args'].get('lr_schedule', 'none')})"
        histories[label] = data["history"]["test_loss"]
    test_loss_curves(histories, path, last=LAST)
    for label, losses in histories.items():
        tail = losses[-LAST:]
        print(f"{label}: last {len(tail)} epochs' test loss {min(tail):.4g} to {max(tail):.4g} "
              f"(sd {statistics.pstdev(tail):.3g}); final {losses[-1]:.4g}")


@guarded
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", nargs="+", help="training output folders (each with metrics.json), or checkpoints scored "
                                           "with test_colorizer.py --store (an ensemble's)")
    p.add_argument("--out", help="also write the table to this markdown file")
    p.add_argument("--curves", metavar="PNG", help="plot the runs' test loss per epoch here (+ a JSON beside it)")
    args = p.parse_args(argv)
    if args.curves:
        curves(args.runs, args.curves)
        return
    text = table(args.runs)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
