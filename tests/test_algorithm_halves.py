"""Each algorithm is a client half and a server half, keyed as its spec; each half has its
state from construction on, and checks what a checkpoint gives it instead of asserting."""

from __future__ import annotations

import pytest
import torch

from fsl_sage_dist.algorithms import REGISTRY, ClientSide, ServerSide
from fsl_sage_dist.config import load_config
from fsl_sage_dist.errors import CheckpointError
from fsl_sage_dist.models import build_split_model
from fsl_sage_dist.plan import SPECS
from fsl_sage_dist.runtime.build import build_context

CPU = torch.device("cpu")


def halves(algorithm: str) -> tuple[ClientSide, ServerSide]:
    """Both halves of `algorithm` on one context (no channel: nothing here sends)."""
    ctx = build_context(load_config(None, [f"algorithm={algorithm}"]), CPU, None, 0)
    template = build_split_model("simple_conv", (1, 28, 28), 10, seed=0)
    client, server = REGISTRY[algorithm]
    return client(ctx, template), server(ctx, template)


def test_every_spec_has_its_two_halves():
    assert tuple(REGISTRY) == tuple(SPECS)
    for client, server in REGISTRY.values():
        assert issubclass(client, ClientSide) and issubclass(server, ServerSide)


@pytest.mark.parametrize("algorithm", SPECS)
def test_state_is_there_from_construction_and_loads_back(algorithm):
    for side in halves(algorithm):
        side.load_state_dict(side.state_dict())


@pytest.mark.parametrize("algorithm", SPECS)
def test_a_half_without_state_refuses_a_checkpoints_state(algorithm):
    for side, where in zip(halves(algorithm), ("client-host", "server")):
        if side.state_dict():
            continue
        with pytest.raises(CheckpointError, match=f"{where} state \\['stray'\\] for {algorithm}"):
            side.load_state_dict({"stray": {}})
