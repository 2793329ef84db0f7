"""Train a colorizer on a split: the report's regression Networks 1/2/3 (optionally tanh), or the
classifier over quantized ab bins (--classifier) on the same backbones; either on a U-Net of Network 3's
modules (--net unet), which can take colour hints (--hints)."""
import argparse

from common.cli import add_training_args, guarded
from common.engine import train_from_args
from common.models import PRESETS, Classifier, Colorizer


def parse_args(argv=None):
    p = add_training_args(argparse.ArgumentParser(description=__doc__), lr=0.01, out="runs/<model>")
    p.add_argument("--net", choices=[*map(str, sorted(PRESETS)), "unet"], default="3",
                   help="backbone of either model: the report's feature-map preset 1, 2 or 3, or unet, Network 3's "
                        "modules with skip connections (default: 3)")
    p.add_argument("--hints", action="store_true",
                   help="the network also sees colour hints, simulated from the ground truth in training "
                        "(Zhang et al. 2017); best with --net unet, whose skips bring a hint back where it was put")
    p.add_argument("--recolour", type=float, default=0.25, metavar="SHARE",
                   help="hint models: the share of training pictures with hints whose hue (hints and target "
                        "alike) is turned by a random angle, so the model learns to follow a hint that "
                        "disagrees with its guess; 0 trains on the true colours only (default: %(default)s)")
    p.add_argument("--regions", type=float, default=0.0, metavar="SHARE",
                   help="hint models: the share of the recoloured pictures turned region by region instead of "
                        "whole: each hint's region of the truth (its pixels of like colour, joined to it) by its "
                        "own angle and the rest left true, so a hint learns to fill its object and stop at its "
                        "edge (default: %(default)s)")
    p.add_argument("--classifier", action="store_true",
                   help="the classifier: ab bins, rebalanced soft cross-entropy, annealed-mean decoding "
                        "(default: the report's MSE regression)")
    p.add_argument("--tanh", action="store_true", help="regression: tanh output, trained on ab/128")
    p.add_argument("--rebalance-lambda", type=float, default=0.5,
                   help="classifier: mix of the bin prior with uniform, 1 = no rebalancing (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=0.38,
                   help="classifier: annealed-mean temperature for decoding, 1 = mean, 0 = mode (default: %(default)s)")
    p.add_argument("--mirror", action="store_true",
                   help="decode with the mirror average: evaluation (the per-epoch test loss too), model.pt and "
                        "colorize.py take the mean of the network's outputs for each picture and its mirror image, "
                        "twice the forward work (training is unchanged)")
    args = p.parse_args(argv)
    if args.classifier and args.tanh:
        p.error("--tanh is a regression output; the classifier has none")
    for flag in ("recolour", "regions"):
        if not 0 <= getattr(args, flag) <= 1:
            p.error(f"--{flag} {getattr(args, flag):g}: a share from 0 to 1")
    if args.out == p.get_default("out"):
        args.out = f"runs/{name(args).replace(' ', '-').lower()}"
    return args


def name(args):
    net = "unet" if args.net == "unet" else f"net{args.net}"
    hints = " hints" if args.hints else ""
    if args.classifier:
        return f"classifier {net}{hints}"
    return f"{net}{' tanh' if args.tanh else ''}{hints}"


def make_model(args):
    unet = args.net == "unet"
    features = PRESETS[3 if unet else int(args.net)]
    if args.classifier:
        return Classifier(features, rebalance_lambda=args.rebalance_lambda, temperature=args.temperature, unet=unet,
                          hints=args.hints, mirror=args.mirror)
    return Colorizer(features, tanh=args.tanh, unet=unet, hints=args.hints, mirror=args.mirror)


@guarded
def main(argv=None):
    args = parse_args(argv)
    train_from_args(lambda: make_model(args), args, name(args))


if __name__ == "__main__":
    main()
