"""Average trained per-pixel models into one checkpoint: its ab is the mean of theirs, each decoded as its own file
is. Score it, and store its metrics, with `test_colorizer.py --checkpoint OUT --store`."""
import argparse
from pathlib import Path

from common.checkpoint import ensemble_of, save_checkpoint
from common.cli import UserError, add_common_args, guarded, prepare


@guarded
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("members", nargs="+", metavar="PT", help="checkpoints of colorizers or classifiers of one size")
    p.add_argument("--out", required=True, help="the ensemble's checkpoint, e.g. pretrained/unet_ensemble.pt")
    args = add_common_args(p).parse_args(argv)
    prepare(args)
    if len(args.members) < 2:
        raise UserError("an ensemble needs at least two checkpoints")
    ensemble, run = ensemble_of([Path(m) for m in args.members])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, ensemble, args=run)
    print(f"{out}: the mean of {len(args.members)} models at {run['size']} px ({', '.join(args.members)}); score it "
          f"with `python test_colorizer.py --checkpoint {out} --store`")


if __name__ == "__main__":
    main()
