"""Thread counts: the server borrows every core only with automatic thread counts."""

from __future__ import annotations

import os

import pytest
import torch

from fsl_sage_dist.threads import borrowed_cores


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_automatic_threads_borrow_every_core_then_give_them_back(one_thread):
    with borrowed_cores(threads_per_rank=0):
        assert torch.get_num_threads() == os.cpu_count()
    assert torch.get_num_threads() == 1


def test_explicit_threads_are_kept(one_thread):
    with borrowed_cores(threads_per_rank=1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 1


def test_threads_come_back_when_the_work_raises(one_thread):
    with pytest.raises(ValueError), borrowed_cores(threads_per_rank=0):
        raise ValueError("alignment failed")
    assert torch.get_num_threads() == 1
