"""Every random stream is derived from (seed, purpose, ids...), never from a global RNG.

Deriving streams instead of sharing one global generator is what lets a client's data order
be the same whichever rank hosts it, and lets a resumed run continue without replaying draws.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import numpy as np
import torch


def derive_seed(seed: int, purpose: str, *ids: int) -> int:
    """A 63-bit seed that depends only on the base seed, a purpose name and integer ids."""
    entropy = [int(seed), zlib.crc32(purpose.encode())] + [int(i) for i in ids]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def numpy_rng(seed: int, purpose: str, *ids: int) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, purpose, *ids))


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
