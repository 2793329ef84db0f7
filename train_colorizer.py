"""Train the report's colorizer (Network 1, 2 or 3; optional tanh output) on a split."""
import argparse

from common.cli import add_training_args, guarded
from common.engine import train_from_args
from common.models import PRESETS, Colorizer


def parse_args(argv=None):
    p = add_training_args(argparse.ArgumentParser(description=__doc__), lr=0.01, out="runs/net<N>[-tanh]")
    p.add_argument("--net", type=int, choices=sorted(PRESETS), default=3, help="feature-map preset (default: 3)")
    p.add_argument("--tanh", action="store_true", help="tanh output, trained on ab/128")
    p.add_argument("--lr-schedule", choices=["none", "cosine"], default="none",
                   help="none keeps the report's constant rate; cosine anneals it to 0 (default: %(default)s)")
    args = p.parse_args(argv)
    if args.out == p.get_default("out"):
        args.out = f"runs/net{args.net}{'-tanh' if args.tanh else ''}"
    return args


@guarded
def main(argv=None):
    args = parse_args(argv)
    title = f"Network {args.net}{' tanh' if args.tanh else ''}"
    train_from_args(lambda: Colorizer(PRESETS[args.net], tanh=args.tanh), args, title)


if __name__ == "__main__":
    main()
