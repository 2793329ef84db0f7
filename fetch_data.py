"""Download face_images (750 photos) from DeepColorization at a pinned commit and verify every file; or, with
--archive, take the files of a manifest out of one pinned archive (the photos that are not faces, from OpenCV's
source release on PyPI: `make photos`).

Several files download at once, and a failed one is tried again with growing pauses. Each file is
checked against the manifest's SHA-256 before it gets its name in a `.partial` folder beside --out,
which a rerun continues from; the folder becomes --out only when every file is there and verified,
so nothing unverified ever reaches --out.
"""
import argparse
import hashlib
import http.client
import os
import tarfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
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


def fetch(url, name, digest, folder, retries, backoff):
    """Download one file into `folder` under its own name once its sum matches; None, or why it failed."""
    tmp = folder / f".{name}.tmp-{threading.get_ident()}"
    why = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/{name}", timeout=30) as r:
                tmp.write_bytes(r.read())
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:  # incl. a body cut short
            why = str(getattr(e, "reason", None) or e)
            continue
        if sha256(tmp) == digest:
            os.replace(tmp, folder / name)
            return None
        why = "SHA-256 does not match the manifest"
    tmp.unlink(missing_ok=True)
    return why


def unpack(archive, todo, sums, folder, retries, backoff):
    """The files of `todo` taken out of the .tar.gz at `archive` (fetched once, checked against the SHA-256 after
    its '#sha256='): each the member whose path ends in its name and whose sum matches; {name: why} of those that
    failed."""
    url, _, digest = archive.partition("#sha256=")
    name = url.rsplit("/", 1)[-1]
    why = fetch(url.rsplit("/", 1)[0], name, digest, folder, retries, backoff)
    if why:
        return {base: f"{name}: {why}" for base in todo}
    left = set(todo)
    with tarfile.open(folder / name) as tar:
        for member in tar:
            base = member.name.rsplit("/", 1)[-1]
            if base in left and member.isfile():
                (folder / base).write_bytes(tar.extractfile(member).read())
                if sha256(folder / base) == sums[base]:
                    left.discard(base)
    (folder / name).unlink()
    for base in left:
        (folder / base).unlink(missing_ok=True)
    return {base: f"not in {name} with the manifest's SHA-256" for base in left}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="data/face_images", help="destination folder (default: %(default)s)")
    p.add_argument("--url", default=URL, help="base address of the files (default: the pinned GitHub commit)")
    p.add_argument("--archive", help="take the files out of this .tar.gz instead, its SHA-256 after '#sha256='")
    p.add_argument("--manifest", default=MANIFEST, help="SHA-256 sums to verify against (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=8, help="files downloaded at once (default: %(default)s)")
    p.add_argument("--retries", type=int, default=4, help="further tries of a failed file (default: %(default)s)")
    p.add_argument("--backoff", type=float, default=1.0,
                   help="seconds before the first retry, doubling after each (default: %(default)s)")
    args = p.parse_args(argv)
    if args.jobs < 1 or args.retries < 0 or args.backoff < 0:
        p.error("--jobs must be at least 1, --retries and --backoff at least 0")
    if args.archive and "#sha256=" not in args.archive:
        p.error("--archive needs the archive's SHA-256 after '#sha256=', as PyPI writes its links")
    return args


def download(todo, sums, partial, args):
    """The files of `todo` fetched into `partial`, `args.jobs` at once; {name: why} of those that failed."""
    failed = {}
    with ThreadPoolExecutor(args.jobs) as pool, tqdm(total=len(todo), desc="download", unit="file") as bar:
        jobs = {pool.submit(fetch, args.url, name, sums[name], partial, args.retries, args.backoff): name
                for name in todo}
        for job in as_completed(jobs):
            why = job.result()
            if why:
                failed[jobs[job]] = why
            bar.update(1)
    return failed


@guarded
def main(argv=None):
    args = parse_args(argv)
    out, sums = Path(args.out), read_manifest(args.manifest)
    again = f"`make {'photos' if args.archive else 'data'}`"
    if out.is_dir():
        bad = verify(out, sums)
        if bad:
            raise UserError(f"{out}: {len(bad)} of {len(sums)} files missing or changed (first: {bad[0]}); "
                            f"remove the folder and run {again} again")
        print(f"{out}: all {len(sums)} files present and verified")
        return
    partial = out.parent / f".{out.name}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    for stale in partial.glob(".*.tmp-*"):
        stale.unlink()
    todo = verify(partial, sums)
    kept = len(sums) - len(todo)
    failed = (unpack(args.archive, todo, sums, partial, args.retries, args.backoff) if args.archive
              else download(todo, sums, partial, args))
    if failed:
        first = sorted(failed)[0]
        raise UserError(f"{len(failed)} of {len(sums)} files failed after {args.retries + 1} tries (first: {first}: "
                        f"{failed[first]}); the {len(sums) - len(failed)} verified ones are kept in {partial}, "
                        f"so {again} again continues from there")
    partial.rename(out)
    print(f"{out}: {len(todo)} files downloaded" + (f", {kept} kept from an earlier run" if kept else "")
          + f", all {len(sums)} verified")


if __name__ == "__main__":
    main()
