"""Images in, batches of (L, target) out.

Each epoch serves every image `augment` times in a seeded order, each sample flipped, cropped and resized with
its own parameters, and only then converted to LAB. A small split of same-shaped pictures lives in memory as one
uint8 tensor (N,H,W,3) on the training device and each batch is one batched warp: torch kernels on a GPU, one
OpenCV call per step on a CPU (`TrainBatches`). Any other is read per sample from its prepared memory maps,
by worker processes if asked (`StreamedBatches`).
"""
import math

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .color import image_lab, rgb_to_lab_opencv, rgb_to_lab_torch, split_lab
from .hints import TEST_LOSS_SEED, network_input, paint, simulate, simulated_points

CROP_SCALE = (0.6, 1.0)
EPOCH_STRIDE = 100_003  # a prime above any epoch count: each (seed, epoch) has a generator of its own
RANK_STRIDE = 64  # more than any rank count: each (seed, epoch, rank) has a hint generator of its own
CROP_RATIO = (3 / 4, 4 / 3)
def crop_params(n, generator, scale=CROP_SCALE, ratio=CROP_RATIO, sides=None):
    """Per-sample flip and crop box in normalized coordinates, drawn on the CPU for reproducibility.

    Returns a (n, 5) tensor: flip (0/1), half-width, half-height, centre x, centre y, where the
    whole image spans [-1, 1]. The crop's area is a `scale` share of the square on the picture's short side,
    its pixel aspect a `ratio` (each clipped to the picture), anywhere in the picture: a photo that is not
    square is cropped, never squashed. `sides` (n, 2): each picture's width and height over its short side
    (default: square pictures, the report's protocol, for which this is the area of the whole picture).
    """
    u = torch.rand(n, 5, generator=generator, dtype=torch.float64)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    sides = torch.ones(n, 2, dtype=torch.float64) if sides is None else sides
    w = (torch.sqrt(area * torch.exp(log_r)) / sides[:, 0]).clamp(max=1.0)
    h = (torch.sqrt(area / torch.exp(log_r)) / sides[:, 1]).clamp(max=1.0)
    cx = (2 * u[:, 2] - 1) * (1 - w)
    cy = (2 * u[:, 3] - 1) * (1 - h)
    flip = (u[:, 4] < 0.5).double()
    return torch.stack([flip, w, h, cx, cy], dim=1).float()


def _pixels(scale, centre, n_in, n_out, device):
    """Source pixel coordinate of each output pixel along one axis (align_corners=False, border); `n_in` is the
    axis's length, one for all samples or (N, 1), one each."""
    x = (torch.arange(n_out, dtype=torch.float32, device=device) * 2 + 1) / n_out - 1
    source = ((((scale[:, None] * x + centre[:, None]) + 1) * n_in - 1) / 2).clamp(min=0)
    return torch.minimum(source, torch.as_tensor(n_in - 1, dtype=source.dtype, device=device))


def warp_torch(images, params, size):
    """Per-sample crop and flip of a uint8 batch (N,H,W,3) -> float RGB (N,size,size,3) in [0, 1].

    The crops are axis-aligned, so bilinear resampling is done separably (rows, then columns): the
    same result as affine_grid + grid_sample, with fewer passes over the batch.
    """
    flip, w, h, cx, cy = params.to(images.device).unbind(1)
    N, H, W, C = images.shape
    y = _pixels(h, cy, H, size, images.device)
    x = _pixels(w * (1 - 2 * flip), cx, W, size, images.device)
    y0, x0 = y.floor().long(), x.floor().long()
    y1, x1 = (y0 + 1).clamp(max=H - 1), (x0 + 1).clamp(max=W - 1)
    n = torch.arange(N, device=images.device)[:, None]
    rows = torch.lerp(images[n, y0].float(), images[n, y1].float(), (y - y0)[:, :, None, None])
    index = lambda i: i[:, None, :, None].expand(N, size, size, C)  # noqa: E731
    return torch.lerp(rows.gather(2, index(x0)), rows.gather(2, index(x1)), (x - x0)[:, None, :, None]).div_(255.0)


def warp_opencv(images, params, size):
    """`warp_torch` for CPU tensors, as one cv2.remap over the batch stacked into one tall picture.

    OpenCV resamples in a single vectorised pass where the torch gathers take several; it rounds source
    positions to 1/32 pixel, which moves a value by a fraction of a level.
    """
    flip, w, h, cx, cy = params.unbind(1)
    N, H, W, C = images.shape
    x = _pixels(w * (1 - 2 * flip), cx, W, size, "cpu")
    y = _pixels(h, cy, H, size, "cpu")
    out = torch.empty(N, size, size, C)
    per_call = (_REMAP_MAX_ROWS - 1) // max(H, size)
    for first in range(0, N, per_call):
        part = slice(first, first + per_call)
        n = min(per_call, N - first)
        map_x = x[part, None, :].expand(n, size, size).reshape(n * size, size)
        stacked_y = y[part] + H * torch.arange(n)[:, None]  # row in this call's stacked pictures
        map_y = stacked_y[:, :, None].expand(n, size, size).reshape(n * size, size)
        cv2.remap(images[part].float().div_(255.0).view(n * H, W, C).numpy(), map_x.numpy(), map_y.numpy(),
                  cv2.INTER_LINEAR, dst=out[part].view(n * size, size, C).numpy())
    return out


_REMAP_MAX_ROWS = 2**15 - 1  # cv2.remap takes pictures under SHRT_MAX rows

TORCH_CALL_SAMPLES = 1000  # pictures the torch pipeline warps per call: ~200 MB of float RGB at 128 px

# How a batch is warped and converted to LAB: the same result either way (tested), at different speeds.
PIPELINES = {"torch": (warp_torch, rgb_to_lab_torch), "opencv": (warp_opencv, rgb_to_lab_opencv)}


def pipeline_for(name, device):
    """auto: OpenCV on a CPU, where it is the faster (`bench.py` measures both), torch kernels on an
    accelerator."""
    if name != "auto":
        return name
    return "opencv" if torch.device(device).type == "cpu" else "torch"


def make_target(ab, target):
    """The regressor learns the mean ab of the picture; every other model the ab of each pixel."""
    return ab.mean(dim=(2, 3)) if target == "mean_ab" else ab


def with_hints(L, ab, generator, recolour=0.0, regions=0.0):
    """A hint model's input (L and hints simulated from the batch's own ground truth ab) and its target ab."""
    hint_ab, mask, ab = simulate(L, ab, generator, recolour, regions)
    return network_input(L, hint_ab, mask), ab


def epoch_seed(seed, epoch):
    """The seed of an epoch's order and crops: the same on every rank, different for every (seed, epoch)."""
    return seed * EPOCH_STRIDE + epoch


def hint_seed(seed, epoch, rank):
    """The seed of a rank's simulated hints in an epoch: one of its own for every (seed, epoch, rank)."""
    return epoch_seed(seed, epoch) * RANK_STRIDE + rank + 1


def short_side_ratios(shapes):
    """(width, height) over the short side, (N, 2) float64, of pictures of (height, width) `shapes` (N, 2)."""
    shapes = torch.as_tensor(shapes, dtype=torch.float64)
    return shapes.flip(1) / shapes.min(dim=1, keepdim=True).values


class TrainBatches:
    """Augmented epochs over an in-memory split: `augment` samples per image, per-sample warps; for a hint
    model (`hints`) each sample also gets simulated hints drawn from its augmented ground truth.

    The torch pipeline keeps the split on `device` and works there; the OpenCV one works on the CPU and
    hands each finished batch to `device`.
    """

    def __init__(self, images, batch_size=100, augment=10, size=128, seed=42, device="cpu", target="ab",
                 rank=0, world=1, pipeline="auto", hints=False, recolour=0.0, regions=0.0, workers=0):
        self.pipeline = pipeline_for(pipeline, device)
        self.device = torch.device(device)
        self.batch_size, self.augment, self.size = batch_size, augment, size
        self.seed, self.target, self.rank, self.world = seed, target, rank, world
        self.hints, self.recolour, self.regions, self.workers = hints, recolour, regions, workers
        self.images = self.hold(images)
        self.sides = short_side_ratios(self.shapes())
        # torch kernels are launch-bound at one batch of 128 px pictures, so they take several per call
        self.batches_per_call = max(1, TORCH_CALL_SAMPLES // batch_size) if self.pipeline == "torch" else 1

    def hold(self, images):
        """The pictures as the epochs read them: here (N,H,W,3) where the pipeline works."""
        return images.permute(0, 2, 3, 1).contiguous().to("cpu" if self.pipeline == "opencv" else self.device)

    def shapes(self):
        """(height, width) of every picture, (N, 2)."""
        return torch.tensor([self.images.shape[1:3]]).expand(len(self.images), 2)

    def __len__(self):
        full, rest = divmod(self.samples, self.batch_size)
        return full + (rest >= self.world)  # a last batch smaller than the world is dropped

    @property
    def samples(self):
        return len(self.images) * self.augment

    def _global_batches(self, epoch):
        """(image index, crop params) of every global batch; identical on every rank. A last batch too
        small to give each rank a sample is dropped."""
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        order = torch.randperm(self.samples, generator=generator) % len(self.images)
        for index in order.split(self.batch_size):
            params = crop_params(len(index), generator, sides=self.sides[index])
            if len(index) >= self.world:
                yield index, params

    def plan(self, epoch):
        """This rank's (image index, crop params) per batch: its own disjoint slice of every global batch."""
        for index, params in self._global_batches(epoch):
            yield index.tensor_split(self.world)[self.rank], params.tensor_split(self.world)[self.rank]

    def epoch(self, epoch):
        """Batches of (L, target) for one epoch; the same (seed, epoch) always gives the same batches."""
        warp, to_lab = PIPELINES[self.pipeline]
        plan = list(self.plan(epoch))
        sizes = [len(index) for index, _ in plan]
        # one upload per epoch: a small copy from pageable host memory each batch would stall the GPU's queue
        index, crops = (torch.cat(part).to(self.images.device) for part in zip(*plan))
        hint_draws = torch.Generator().manual_seed(hint_seed(self.seed, epoch, self.rank))
        start = 0
        for first in range(0, len(sizes), self.batches_per_call):
            part = sizes[first:first + self.batches_per_call]
            samples = slice(start, start + sum(part))
            start = samples.stop
            rgb = warp(self.images[index[samples]], crops[samples], self.size)
            L, ab = split_lab(to_lab(rgb).to(self.device, non_blocking=True))
            for L_batch, ab_batch in zip(L.split(part), ab.split(part)):
                if self.hints:
                    L_batch, ab_batch = with_hints(L_batch, ab_batch, hint_draws, self.recolour, self.regions)
                yield L_batch, make_target(ab_batch, self.target)


def warp_pictures(pictures, params, size):
    """`warp_opencv` for HxWx3 uint8 pictures of different shapes: float RGB (N,size,size,3) in [0, 1]. The source
    coordinates of the whole batch are worked out at once; each picture is then converted and remapped over the
    box its crop reads, one cv2.remap call each."""
    flip, w, h, cx, cy = params.unbind(1)
    heights, widths = (torch.tensor([p.shape[axis] for p in pictures])[:, None] for axis in (0, 1))
    xs = _pixels(w * (1 - 2 * flip), cx, widths, size, "cpu").numpy()
    ys = _pixels(h, cy, heights, size, "cpu").numpy()
    out = torch.empty(len(pictures), size, size, 3)
    for picture, x, y, dst in zip(pictures, xs, ys, out.numpy()):
        top, left = int(y.min()), int(x.min())
        box = picture[top:int(y.max()) + 2, left:int(x.max()) + 2].astype(np.float32) / np.float32(255.0)
        cv2.remap(box, np.broadcast_to(x - left, (size, size)), np.broadcast_to((y - top)[:, None], (size, size)),
                  cv2.INTER_LINEAR, dst=dst)
    return out


class BatchReads(Dataset):
    """An epoch's planned batches, each read from the prepared pictures and warped sample by sample (their shapes
    differ): float RGB (n,size,size,3), or (L, ab) already in LAB when the pipeline converts on the CPU. Item k
    is batch k of the plan, whichever process reads it."""

    def __init__(self, prepared, plan, size, lab):
        self.prepared, self.plan, self.size, self.lab = prepared, plan, size, lab

    def __len__(self):
        return len(self.plan)

    def __getitem__(self, k):
        index, params = self.plan[k]
        rgb = warp_pictures([self.prepared.picture(i) for i in index.tolist()], params, self.size)
        return split_lab(rgb_to_lab_opencv(rgb)) if self.lab else rgb


class StreamedBatches(TrainBatches):
    """`TrainBatches` over prepared pictures of any shapes (`prepare.Prepared`), read per sample from their memory
    maps: only this rank's samples of each global batch are read, and memory does not grow with the number of
    photos. `workers` processes read ahead (a DataLoader); 0 reads in this process between steps."""

    def hold(self, prepared):
        return prepared

    def shapes(self):
        return self.images.shapes()

    def epoch(self, epoch):
        lab_on_cpu = self.pipeline == "opencv"
        reads = BatchReads(self.images, list(self.plan(epoch)), self.size, lab_on_cpu)
        loader = DataLoader(reads, batch_size=None, num_workers=self.workers, pin_memory=self.device.type == "cuda")
        hint_draws = torch.Generator().manual_seed(hint_seed(self.seed, epoch, self.rank))
        for batch in loader:
            if lab_on_cpu:
                L, ab = (t.to(self.device, non_blocking=True) for t in batch)
            else:
                L, ab = split_lab(rgb_to_lab_torch(batch.to(self.device, non_blocking=True)))
            if self.hints:
                L, ab = with_hints(L, ab, hint_draws, self.recolour, self.regions)
            yield L, make_target(ab, self.target)


class EvalBatches:
    """The test split as it is (no augmentation), in file order, in fixed-size batches; for a hint model with
    simulated hints drawn once with a fixed seed, so every epoch and every model is scored on the same ones.

    `images` is a uint8 tensor (N,3,H,W) or `prepare.Squares` (sliced the same way). With `keep` the batches are
    converted once and kept on the device, since training scores them every epoch; without, they are read and
    converted again on every pass, for a test part too large to keep."""

    def __init__(self, images, batch_size=10, device="cpu", target="ab", hints=False, keep=True):
        self.images, self.batch_size, self.device, self.target = images, batch_size, device, target
        # drawn for the whole split at once, so the batch size does not change them
        self.points = simulated_points(len(images), images.shape[-1],
                                       torch.Generator().manual_seed(TEST_LOSS_SEED)) if hints else None
        self.batches = list(self.convert()) if keep else None

    def convert(self):
        for start in range(0, len(self.images), self.batch_size):
            chunk = self.images[start:start + self.batch_size]
            L, ab = image_lab(chunk.permute(0, 2, 3, 1).contiguous().to(self.device))
            if self.points is not None:
                L = network_input(L, *paint(ab, [p[start:start + len(L)] for p in self.points]))
            yield L, make_target(ab, self.target)

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def __iter__(self):
        return iter(self.batches) if self.batches is not None else self.convert()
