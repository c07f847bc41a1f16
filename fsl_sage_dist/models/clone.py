"""Copies of a model part for each client (and each SplitFed-v1 server copy) that share the
frozen weights.

A language model's frozen base weights are non-persistent buffers (`gpt2.py`): never written,
never state. One copy of them serves every client of a rank; a plain deep copy per client would
hold GPT-2 medium's 200 MiB embedding matrix once per virtual client, and SplitFed-v1's server
copies its 23 blocks once per client. (Moving a copy to a GPU with `.to` still converts each
module's tensors separately.)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch for the annotations only: the package facade imports this eagerly
    import torch
    from torch import nn


def frozen_tensors(module: nn.Module) -> list[torch.Tensor]:
    return [
        t
        for m in module.modules()
        for name, t in m._buffers.items()
        if name in m._non_persistent_buffers_set and t is not None
    ]


def clone(module: nn.Module) -> nn.Module:
    """A deep copy of `module` whose frozen (non-persistent) buffers are `module`'s own."""
    return copy.deepcopy(module, {id(t): t for t in frozen_tensors(module)})
