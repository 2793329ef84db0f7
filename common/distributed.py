"""torchrun support: DistributedDataParallel when WORLD_SIZE > 1, and nothing at all otherwise."""
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .cli import UserError


def world_size():
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank():
    return dist.get_rank() if dist.is_initialized() else 0


def is_main():
    return rank() == 0


def setup(device):
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU); returns this rank's device."""
    if world_size() == 1 or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(model, device, sync_bn=False):
    """The model as the training step should call it: DDP across ranks, or itself alone."""
    if not dist.is_initialized():
        return model
    if sync_bn:
        if device.type != "cuda":
            raise UserError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm does not run on the CPU)")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def all_sum(value):
    if dist.is_initialized():
        dist.all_reduce(value)
    return value


def teardown():
    """Leave together: a gloo rank that destroys its group while a peer still talks to it can abort."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
