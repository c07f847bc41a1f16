"""Which backend and device each local rank gets, for any number of GPUs (the GPU count is
patched: no GPU is needed to run this)."""

from __future__ import annotations

import pytest
import torch

from fsl_sage_dist.devices import choose_backend
from fsl_sage_dist.errors import ConfigError

LOCAL_RANKS = 3  # one server and two client hosts on one node


def choices(monkeypatch, gpus: int, backend: str = "auto") -> list[tuple[str, str]]:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    return [
        (b, str(d))
        for b, d in (choose_backend(backend, r, LOCAL_RANKS) for r in range(LOCAL_RANKS))
    ]


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        (0, [("gloo", "cpu")] * 3),
        # fewer GPUs than ranks: shared round-robin, Gloo staging through CPU
        (1, [("gloo", "cuda:0")] * 3),
        (2, [("gloo", "cuda:0"), ("gloo", "cuda:1"), ("gloo", "cuda:0")]),
        # a GPU per rank: NCCL, each rank on its own
        (4, [("nccl", "cuda:0"), ("nccl", "cuda:1"), ("nccl", "cuda:2")]),
    ],
)
def test_auto_shares_gpus_and_takes_nccl_only_with_one_each(monkeypatch, gpus, expected):
    assert choices(monkeypatch, gpus) == expected


@pytest.mark.parametrize("gpus", [0, 1, 2])
def test_nccl_with_too_few_gpus_is_one_clear_error(monkeypatch, gpus):
    with pytest.raises(ConfigError, match=f"one GPU per rank: 3 ranks on this node, {gpus} GPUs"):
        choices(monkeypatch, gpus, "nccl")


def test_gloo_keeps_compute_on_the_gpus(monkeypatch):
    assert choices(monkeypatch, 4, "gloo") == [
        ("gloo", "cuda:0"),
        ("gloo", "cuda:1"),
        ("gloo", "cuda:2"),
    ]
