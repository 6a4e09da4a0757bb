"""torchrun set-up for the benchmark: rank and world size, barrier, broadcast (gloo on CPU, nccl on GPU).

Without torchrun (``WORLD_SIZE`` unset or 1) every call is a no-op on one process.
"""
from __future__ import annotations

import os
from typing import Any


def init() -> tuple[int, int]:
    """(rank, world size): from torchrun's environment, else (0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def _active() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    """Wait for every rank."""
    if _active():
        import torch.distributed as dist

        dist.barrier()


def broadcast(value: Any) -> Any:
    """rank 0's value on every rank."""
    if not _active():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def close() -> None:
    """Leave the process group, if one was joined."""
    if _active():
        import torch.distributed as dist

        dist.destroy_process_group()
