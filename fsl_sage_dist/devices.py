"""Where a rank computes and which backend it talks over: `RankInfo` and `choose_backend`.

Backend `auto`: NCCL when every rank on the node has its own GPU (payloads stay on the GPU),
otherwise Gloo. With Gloo on a machine with GPUs, ranks compute on them (shared round-robin when
there are fewer GPUs than ranks) and payloads are staged through CPU.

Torch only, no torch.distributed: the modules that merely carry a rank's identity, and the
preflight that checks a machine before any rank starts, need not import the module that starts
the process group (`runtime/process_group.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fsl_sage_dist.errors import ConfigError


@dataclass(frozen=True)
class RankInfo:
    rank: int
    world_size: int
    backend: str
    device: torch.device
    """Where this rank computes."""
    comm_device: torch.device
    """Where tensors handed to torch.distributed live."""


def choose_backend(backend: str, local_rank: int, local_world: int) -> tuple[str, torch.device]:
    """Backend (`runtime.backend`: auto, gloo or nccl) and compute device of local rank
    `local_rank` of `local_world` on this node.

    GPUs are shared round-robin when there are fewer than ranks (a one-GPU workstation running
    1 + 2 ranks computes on that GPU in all three): NCCL cannot put two ranks on one device, so
    those ranks talk over Gloo through CPU copies, but compute stays on the GPU."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    own_gpu = gpus >= local_world
    if backend == "auto":
        backend = "nccl" if own_gpu else "gloo"
    if backend == "nccl" and not own_gpu:
        raise ConfigError(
            f"runtime.backend='nccl' needs one GPU per rank: {local_world} ranks "
            f"on this node, {gpus} GPUs; use runtime.backend=auto (Gloo, the "
            "GPUs shared by the ranks) or gloo"
        )
    device = torch.device("cuda", local_rank % gpus) if gpus else torch.device("cpu")
    return backend, device
