"""What every script shares: seed and device flags, and turning user errors into one line.

Light to import (torch and numpy load inside the functions that use them), so `--help` is instant.
"""
import ctypes
import ctypes.util
import functools
import random
import sys


class UserError(Exception):
    """A problem the user can fix (bad path, bad file, wrong checkpoint); printed as one line."""


def add_common_args(parser, seed=42):
    parser.add_argument("--seed", type=int, default=seed, help="random seed (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    return parser


def resolve_device(name):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise UserError(f"--device {name!r} is not a device: use auto, cpu or cuda") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return device


def seed_everything(seed):
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def keep_freed_memory():
    """Stop glibc handing freed tensor memory back to the OS after every step.

    By default each batch-sized tensor (tens of MB) is mmap'ed and unmapped again, so every step
    page-faults its activations in anew: about a fifth of a CPU training step here. PyTorch's
    performance guide suggests swapping in jemalloc or tcmalloc; two mallopt calls do the same job
    without a preloaded library. A no-op where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_trim_threshold, 2**30)
    return bool(mallopt(m_mmap_threshold, 2**30) or mallopt(m_mmap_threshold, 2**25))


def prepare(args):
    """Apply --seed and resolve --device: how every script starts."""
    seed_everything(args.seed)
    return resolve_device(args.device)


def warn(message):
    """One line on stderr that does not break a running progress bar."""
    from tqdm import tqdm

    tqdm.write(f"warning: {message}", file=sys.stderr)


def guarded(main):
    """Run a script's main so that user errors end as `error: ...` and exit status 2."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("\ninterrupted: what was finished is written; nothing half-written is left", file=sys.stderr)
            sys.exit(130)

    return wrapper


def add_training_args(parser, lr, out=None):
    """The flags every training script takes, with the report's defaults."""
    parser.add_argument("--data", default="data/split", help="split made by split_data.py (default: %(default)s)")
    parser.add_argument("--out", default=out, help="output folder (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=200, help="(default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=100, help="(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=lr, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--augment", type=int, default=10,
                        help="augmented samples per image per epoch (default: %(default)s)")
    parser.add_argument("--size", type=int, default=128, help="training image size (default: %(default)s)")
    parser.add_argument("--lr-schedule", choices=["none", "cosine"], default="none",
                        help="none keeps the report's constant rate; cosine anneals it to 0 (default: %(default)s)")
    parser.add_argument("--val-fraction", type=float, default=0.0,
                        help="hold out this share of the training images (seeded) to choose best.pt; the test "
                             "split never chooses (default: %(default)s, the report's 675 training images, no best.pt)")
    parser.add_argument("--resume", help="continue from a last.pt of the same run")
    parser.add_argument("--init", metavar="CHECKPOINT",
                        help="start from a checkpoint's weights, e.g. pretrained/hints.pt to fine-tune it on your own "
                             "photos; the flags must build the same model (a classifier's prior is the new photos')")
    parser.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                        help="keep an exponential moving average of the weights (e.g. 0.999); the per-epoch test "
                             "loss, the samples, model.pt and the final metrics then use it (default: off)")
    parser.add_argument("--sync-bn", action="store_true", help="under torchrun on CUDA: SyncBatchNorm across ranks")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step's model")
    parser.add_argument("--pipeline", choices=["auto", "torch", "opencv"], default="auto",
                        help="batch warp and LAB: torch kernels on the device or OpenCV on the CPU "
                             "(default: auto, OpenCV on a CPU and torch elsewhere)")
    parser.add_argument("--reader", choices=["auto", "memory", "stream"], default="auto",
                        help="memory: the training photos in one tensor, one batched warp a step; stream: read per "
                             "sample from the prepared files, memory flat in the number of photos (default: auto, "
                             "memory for photos of one shape up to 1 GiB, such as face_images, else stream)")
    parser.add_argument("--workers", type=int, default=None,
                        help="stream reader: processes reading batches ahead (default: 0 on a CPU, whose cores the "
                             "step needs; on CUDA the cores over the ranks, at most 8)")
    parser.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto",
                        help="bf16 autocast of the forward pass (default: auto, on CUDA only)")
    parser.add_argument("--fused", choices=["auto", "on", "off"], default="auto",
                        help="fused Adam, one kernel for all parameters (default: auto, on CUDA only)")
    parser.add_argument("--graphs", choices=["auto", "on", "off"], default="auto",
                        help="replay the training step as one CUDA graph (default: auto, on CUDA for a single "
                             "process without --compile)")
    return add_common_args(parser)
