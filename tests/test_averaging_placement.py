"""Averaging arithmetic, client placement and per-round sampling."""

import collections

import pytest
import torch

from fsl_sage_dist.algorithms.averaging import average_flat, mean_of_sum, weighted_sum
from fsl_sage_dist.plan.placement import Placement, participants


def test_average_is_weighted_by_samples_and_exact_for_integer_buffers():
    states = [
        [torch.tensor([1.0, 2.0]), torch.tensor([5])],
        [torch.tensor([3.0, 6.0]), torch.tensor([5])],
        [torch.tensor([0.0, 0.0]), torch.tensor([8])],
    ]
    floats, ints = average_flat(states, sizes=[1, 1, 2])
    assert torch.allclose(floats, torch.tensor([1.0, 2.0]))
    assert ints.dtype == torch.int64 and ints.tolist() == [6]  # (5 + 5 + 16) / 4 = 6.5 -> 6
    ten_equal = [[torch.tensor([0.1]), torch.tensor([7])]] * 10
    floats, ints = average_flat(ten_equal, sizes=[6000] * 10)
    assert ints.tolist() == [7] and floats.item() == pytest.approx(0.1, abs=1e-7)


def test_states_regrouped_by_host_average_to_the_same_model():
    """The same clients listed host by host (as a server reading host after host would) give
    the same average up to float rounding, each state keeping its own weight, and integer
    buffers exactly. The server still fixes the order (client id), which the in-process layout
    test (test_learning.py) checks: float sums in another order may differ in the last bit."""
    gen = torch.Generator().manual_seed(0)
    states = [
        [torch.randn(1000, generator=gen), torch.randint(0, 50, (3,), generator=gen)]
        for _ in range(7)
    ]
    sizes = [13, 7, 21, 5, 9, 30, 2]
    floats, ints = average_flat(states, sizes)
    for hosts in (2, 3, 4):
        placement = Placement(num_clients=7, num_hosts=hosts)
        by_host = [c for h in range(1, hosts + 1) for c in placement.clients_on(h)]
        assert by_host != sorted(by_host)
        regrouped = average_flat([states[c] for c in by_host], [sizes[c] for c in by_host])
        assert torch.allclose(regrouped[0], floats, rtol=1e-6, atol=0)
        assert torch.equal(regrouped[1], ints)
    unweighted = average_flat(states, [1] * 7)[0]
    assert not torch.allclose(unweighted, floats, rtol=1e-3), "sizes must matter here"


def test_host_sums_reduced_then_divided_give_the_exact_average_up_to_rounding():
    """runtime.averaging=reduce: hosts {0, 2} and {1} sum their clients' weighted states, the
    reduction adds the sums, the server divides; a host without participants adds zeros."""
    gen = torch.Generator().manual_seed(1)
    states = [
        [torch.randn(500, generator=gen), torch.randint(0, 50, (2,), generator=gen)]
        for _ in range(3)
    ]
    sizes = [120, 90, 33]
    like = states[0]
    hosts = [
        weighted_sum(like, [states[0], states[2]], [sizes[0], sizes[2]]),
        weighted_sum(like, [states[1]], [sizes[1]]),
        weighted_sum(like, [], []),
    ]
    reduced = [sum(parts) for parts in zip(*hosts)]
    floats, ints = mean_of_sum(reduced, sum(sizes))
    exact_floats, exact_ints = average_flat(states, sizes)
    assert floats.dtype == torch.float32 and torch.allclose(floats, exact_floats, atol=1e-6)
    assert torch.equal(ints, exact_ints)


def test_round_robin_placement():
    p = Placement(num_clients=10, num_hosts=3)
    assert [p.host_of(c) for c in range(10)] == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    assert p.clients_on(1) == [0, 3, 6, 9] and p.clients_on(3) == [2, 5, 8]
    assert sorted(c for h in (1, 2, 3) for c in p.clients_on(h)) == list(range(10))


def test_sampling_is_deterministic_and_fair():
    assert participants(seed=1, round_=4, num_clients=100, per_round=0) == list(range(100))
    assert participants(1, 4, 100, 10) == participants(1, 4, 100, 10)
    assert participants(1, 4, 100, 10) != participants(1, 5, 100, 10)
    counts = collections.Counter(c for r in range(2000) for c in participants(7, r, 100, 10))
    assert set(counts) == set(range(100))
    expected = 2000 * 10 / 100
    print(
        f"picks per client: min {min(counts.values())}, max {max(counts.values())}, "
        f"expected {expected}"
    )
    assert all(abs(n - expected) < 5 * expected**0.5 for n in counts.values())
