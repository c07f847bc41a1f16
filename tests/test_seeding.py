"""seeding.py: every random stream derives from (seed, purpose, ids) and nothing else."""

from __future__ import annotations

import torch

from fsl_sage_dist.plan.seeds import derive_seed, numpy_rng
from fsl_sage_dist.seeding import seeded_torch, torch_generator


def test_a_derived_seed_depends_on_seed_purpose_and_ids_only():
    base = derive_seed(200, "data", 3, 1)
    assert base == derive_seed(200, "data", 3, 1)
    others = {
        derive_seed(201, "data", 3, 1),
        derive_seed(200, "model", 3, 1),
        derive_seed(200, "data", 1, 3),
        derive_seed(200, "data", 3),
    }
    assert base not in others and len(others) == 4
    assert 0 <= base < 1 << 63


def test_generators_replay_their_stream():
    assert (
        numpy_rng(1, "x", 2).integers(1 << 30, size=4).tolist()
        == numpy_rng(1, "x", 2).integers(1 << 30, size=4).tolist()
    )
    assert torch.equal(
        torch.rand(4, generator=torch_generator(1, "x", 2)),
        torch.rand(4, generator=torch_generator(1, "x", 2)),
    )


def test_seeded_torch_is_reproducible_and_leaves_the_global_stream_alone():
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    with seeded_torch(200, "model"):
        first = torch.rand(3)
    assert torch.equal(torch.rand(3), expected_next), "the global RNG moved"
    with seeded_torch(200, "model"):
        assert torch.equal(torch.rand(3), first)
