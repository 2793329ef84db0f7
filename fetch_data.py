"""Download face_images (750 photos) from DeepColorization at a pinned commit and verify every file.

Files go to a temporary folder beside --out and are moved in place only when every SHA-256 sum
matches the manifest, so a failure never leaves a half-written dataset behind.
"""
import argparse
import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from common.cli import UserError, guarded

COMMIT = "cc2638e12b34a9c5f41fd84d97d05dc21289d597"
URL = f"https://raw.githubusercontent.com/2014mchidamb/DeepColorization/{COMMIT}/face_images"
MANIFEST = Path(__file__).parent / "data" / "face_images.sha256"


def read_manifest(path):
    sums = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    return sums


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify(folder, sums):
    """Names of the files that are missing or whose sum differs."""
    return [name for name, digest in sums.items()
            if not (Path(folder) / name).is_file() or sha256(Path(folder) / name) != digest]


@guarded
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="data/face_images", help="destination folder (default: %(default)s)")
    p.add_argument("--url", default=URL, help="base address of the files (default: the pinned GitHub commit)")
    p.add_argument("--manifest", default=MANIFEST, help="SHA-256 sums to verify against (default: %(default)s)")
    args = p.parse_args(argv)
    out, sums = Path(args.out), read_manifest(args.manifest)
    if out.is_dir():
        bad = verify(out, sums)
        if bad:
            raise UserError(f"{out}: {len(bad)} of {len(sums)} files missing or changed (first: {bad[0]}); "
                            "remove the folder and run `make data` again")
        print(f"{out}: all {len(sums)} files present and verified")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name in tqdm(sorted(sums), desc="download", unit="file"):
            try:
                with urllib.request.urlopen(f"{args.url.rstrip('/')}/{name}", timeout=30) as r:
                    (tmp / name).write_bytes(r.read())
            except (urllib.error.URLError, OSError) as e:
                raise UserError(f"download of {name} from {args.url} failed ({getattr(e, 'reason', e)}); "
                                "check the network, or copy the images to --out by hand") from e
            if sha256(tmp / name) != sums[name]:
                raise UserError(f"{name}: SHA-256 does not match {args.manifest}; the source changed, nothing was kept")
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{out}: {len(sums)} files downloaded and verified")


if __name__ == "__main__":
    main()
