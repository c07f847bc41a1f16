"""The torch side of the seed discipline (`plan/seeds.py`): generators and module
construction seeded from `derive_seed(seed, purpose, ids...)`, never from a global RNG."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from fsl_sage_dist.plan.seeds import derive_seed


def torch_generator(seed: int, purpose: str, *ids: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(derive_seed(seed, purpose, *ids))
    return gen


@contextlib.contextmanager
def seeded_torch(seed: int, purpose: str, *ids: int) -> Iterator[None]:
    """Run a block (e.g. module construction, whose init draws from torch's global RNG) with a
    derived seed, restoring the global CPU RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, purpose, *ids))
        yield
