"""Make a collection of N photos (500x375 JPEGs of faces over scenes, composed from face_images) to try training
at scale: `bench.py --collection` and the tests use it."""
import argparse

from common.cli import guarded
from common.made_photos import make_photos
from common.prepare import default_workers


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--src", default="data/face_images", help="pictures to compose from (default: %(default)s)")
    p.add_argument("--out", required=True, help="folder the photos go to (photos already there are kept)")
    p.add_argument("--count", type=int, default=1000, help="how many (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--workers", type=int, default=default_workers(), help="processes (default: every core)")
    return p.parse_args(argv)


@guarded
def main(argv=None):
    args = parse_args(argv)
    paths = make_photos(args.src, args.out, args.count, args.seed, args.workers)
    print(f"{args.out}: {len(paths)} photos")


if __name__ == "__main__":
    main()
