"""Collect the metrics of several training runs into one markdown table beside the report's figures."""
import argparse
import json
from pathlib import Path

from common.cli import UserError, guarded
from common.models import PRESETS
from test_colorizer import LABELS, REPORT_MSE, REPORT_TANH


def row(run):
    path = Path(run) / "metrics.json"
    if not path.is_file():
        raise UserError(f"{path}: missing; train that run first (make train OUT={run})")
    data = json.loads(path.read_text())
    m, args = data["metrics"], data["args"]
    report = REPORT_TANH if args.get("tanh") else REPORT_MSE.get(PRESETS.get(args.get("net")))
    name = f"Network {args.get('net', '?')}{' tanh' if args.get('tanh') else ''}"
    if args.get("classifier") or args.get("loss") == "classify":  # runs from before --classifier said --loss
        name, report = f"Classifier, Network {args.get('net')} backbone, T = {m.get('temperature')}", None
    cells = [name, f"{report}" if report else "-", f"{m['test_loss']:.4g}"] + [f"{m[k]:.4g}" for k in LABELS]
    return cells + [str(args.get("epochs")), f"{m.get('train_seconds', 0) / 60:.1f}"]


@guarded
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", nargs="+", help="training output folders (each with metrics.json)")
    p.add_argument("--out", help="also write the table to this markdown file")
    args = p.parse_args(argv)
    header = ["model", "report test loss", "our test loss"] + list(LABELS.values()) + ["epochs", "train min"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row(run)) + " |" for run in args.runs]
    table = "\n".join(lines) + "\n"
    print(table, end="")
    if args.out:
        Path(args.out).write_text(table)


if __name__ == "__main__":
    main()
