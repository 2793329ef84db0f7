"""A local web page to colorize a photo and steer it with colour hints: open or drop a photo, click to say
what colour a place is, download the full-resolution result and the hints (make serve). Runs on a CPU."""
import argparse
import socket
import sys
from pathlib import Path

from common.cli import UserError, add_common_args, guarded, keep_freed_memory, prepare
from common.files import PRETRAINED

GRACE_SECONDS = 2  # after SIGTERM or Ctrl-C, requests still running get this long before they are stopped


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s, this machine only); 0.0.0.0 lets anyone on "
                        "the network use it")
    p.add_argument("--port", type=int, default=8000, help="(default: %(default)s)")
    p.add_argument("--pretrained", type=Path, default=PRETRAINED, help="folder of the models offered (default: "
                   "the shipped ones)")
    p.add_argument("--max-pixels", type=float, default=100e6,
                   help="refuse larger photos, a decompression-bomb guard (default: %(default).0f)")
    p.add_argument("--max-upload", type=float, default=100,
                   help="refuse uploads of more megabytes (MiB), cut off while they arrive (default: %(default)g)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a host name the page may be opened at besides 127.0.0.1, localhost and --host (this "
                        "machine's name or address on the network with --host 0.0.0.0; repeat for several; '*' "
                        "for any, which lets pages on names that resolve here use the server)")
    add_common_args(p)
    return p.parse_args(argv)


def free(host, port):
    """Whether the port can be listened on, asked before the models load."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise UserError(f"cannot listen on {host}:{port} ({e.strerror or e}); pass another --port or --host") from e


@guarded
def main(argv=None):
    args = parse_args(argv)
    if args.max_upload <= 0:
        raise UserError(f"--max-upload {args.max_upload:g}: give a number of megabytes above 0")
    free(args.host, args.port)
    import uvicorn

    from common.web.app import LOCAL_HOSTS, create_app

    device = prepare(args)
    keep_freed_memory()  # each request reuses the last one's memory instead of page-faulting it in anew
    if not any(args.pretrained.glob("*.pt")):
        raise UserError(f"{args.pretrained}: no models (.pt) there; pass --pretrained with the shipped pretrained/")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach this machine can use the page and what "
              "it is sent" + ("" if args.allow_host else "; name the address they will open with --allow-host"),
              file=sys.stderr)
    hosts = (*LOCAL_HOSTS, args.host, *args.allow_host)
    app = create_app(args.pretrained, device, args.max_pixels, hosts=hosts, max_upload=int(args.max_upload * 2**20))
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(f"colorize page: open http://{shown}:{args.port}/ in your browser (Ctrl-C stops it); {device}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=GRACE_SECONDS)


if __name__ == "__main__":
    main()
