"""Every random stream is derived from (seed, purpose, ids...), never from a global RNG.

Deriving streams instead of sharing one global generator is what lets a client's data order
be the same whichever rank hosts it, and lets a resumed run continue without replaying draws.
Numpy only, so the timeline and the dry run derive the same streams without loading torch
(`seeding.py` adds the torch generators on top of `derive_seed`).
"""

from __future__ import annotations

import zlib

import numpy as np


def seed_sequence(seed: int, purpose: str, *ids: int) -> np.random.SeedSequence:
    """The entropy every stream is drawn from: the base seed, a CRC of the purpose, the ids."""
    return np.random.SeedSequence([int(seed), zlib.crc32(purpose.encode())] + [int(i) for i in ids])


def derive_seed(seed: int, purpose: str, *ids: int) -> int:
    """A 63-bit seed that depends only on the base seed, a purpose name and integer ids."""
    state = seed_sequence(seed, purpose, *ids).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def numpy_rng(seed: int, purpose: str, *ids: int) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, purpose, *ids))
