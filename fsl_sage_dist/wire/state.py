"""A module's state (parameters + buffers) as flat per-dtype vectors, for sending and averaging.

Floating entries go in one float32 vector, integer entries (BatchNorm's `num_batches_tracked`)
in one int64 vector, in `state_dict` order, so both ends agree on the layout by construction.
The bytes are exactly `state_nbytes(module)`: what the meter counts for a model transfer.
"""

from __future__ import annotations

import torch
from torch import nn


def _groups(module: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    floats, ints = [], []
    for value in module.state_dict().values():
        (floats if value.is_floating_point() else ints).append(value)
    return floats, ints


def flatten_state(module: nn.Module) -> list[torch.Tensor]:
    """[float32 vector] or [float32 vector, int64 vector]; copies, detached from the module."""
    floats, ints = _groups(module)
    flat = [torch.cat([v.detach().reshape(-1).float() for v in floats])]
    if ints:
        flat.append(torch.cat([v.detach().reshape(-1).long() for v in ints]))
    return flat


@torch.no_grad()
def load_flat_state(module: nn.Module, flat: list[torch.Tensor]) -> None:
    floats, ints = _groups(module)
    for group, vec in zip((floats, ints), flat):
        offset = 0
        for value in group:
            n = value.numel()
            value.copy_(vec[offset : offset + n].view_as(value))
            offset += n
