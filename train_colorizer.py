"""Train a colorizer on a split: the report's regression Networks 1/2/3 (optionally tanh), or the
classifier over quantized ab bins (--classifier) on the same backbones."""
import argparse

from common.cli import add_training_args, guarded
from common.engine import train_from_args
from common.models import PRESETS, Classifier, Colorizer


def parse_args(argv=None):
    p = add_training_args(argparse.ArgumentParser(description=__doc__), lr=0.01, out="runs/<model>")
    p.add_argument("--net", type=int, choices=sorted(PRESETS), default=3,
                   help="feature-map preset, the backbone of either model (default: 3)")
    p.add_argument("--classifier", action="store_true",
                   help="the classifier: ab bins, rebalanced soft cross-entropy, annealed-mean decoding "
                        "(default: the report's MSE regression)")
    p.add_argument("--tanh", action="store_true", help="regression: tanh output, trained on ab/128")
    p.add_argument("--rebalance-lambda", type=float, default=0.5,
                   help="classifier: mix of the bin prior with uniform, 1 = no rebalancing (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=0.38,
                   help="classifier: annealed-mean temperature for decoding, 1 = mean, 0 = mode (default: %(default)s)")
    args = p.parse_args(argv)
    if args.classifier and args.tanh:
        p.error("--tanh is a regression output; the classifier has none")
    if args.out == p.get_default("out"):
        args.out = f"runs/{name(args).replace(' ', '-').lower()}"
    return args


def name(args):
    if args.classifier:
        return f"classifier net{args.net}"
    return f"net{args.net}{' tanh' if args.tanh else ''}"


def make_model(args):
    if args.classifier:
        return Classifier(PRESETS[args.net], rebalance_lambda=args.rebalance_lambda, temperature=args.temperature)
    return Colorizer(PRESETS[args.net], tanh=args.tanh)


@guarded
def main(argv=None):
    args = parse_args(argv)
    train_from_args(lambda: make_model(args), args, name(args))


if __name__ == "__main__":
    main()
