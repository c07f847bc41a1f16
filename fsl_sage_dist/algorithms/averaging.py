"""Sample-weighted averaging of flat model states, in a fixed order.

`average_flat` (runtime.averaging = "exact"): the caller passes states in ascending client id;
summing in that order (never pre-summed on a host, never inside a collective) is what makes the
result independent of the client layout. `weighted_sum` and `mean_of_sum`
(runtime.averaging = "reduce"): each host sums its own clients' weighted states, a reduction adds
the hosts' sums, and the server divides once; the same mean up to float64 rounding, which now
depends on how clients are grouped on hosts.
"""

from __future__ import annotations

import math

import torch


def average_flat(states: list[list[torch.Tensor]], sizes: list[int]) -> list[torch.Tensor]:
    """Mean of flat states weighted by sample counts n_i. Float vectors accumulate in float64
    and are cast back to float32; integer vectors (num_batches_tracked) take the exact weighted
    mean rounded down, computed in integers so equal inputs give themselves back."""
    total = sum(sizes)
    weights = [n / total for n in sizes]
    assert math.isclose(sum(weights), 1.0, rel_tol=1e-9), weights
    averaged = []
    for parts in zip(*states):
        if parts[0].is_floating_point():
            acc = torch.zeros_like(parts[0], dtype=torch.float64)  # on the states' device
            for w, vec in zip(weights, parts):
                acc += w * vec.double()
            averaged.append(acc.float())
        else:
            acc = torch.zeros_like(parts[0], dtype=torch.int64)
            for n, vec in zip(sizes, parts):
                acc += n * vec
            averaged.append(torch.div(acc, total, rounding_mode="floor"))
    return averaged


def weighted_sum(
    like: list[torch.Tensor], states: list[list[torch.Tensor]], sizes: list[int]
) -> list[torch.Tensor]:
    """Sum of n_i * state_i (float64 for float vectors, int64 for integer ones): a host's part
    of the round's sum; zeros shaped like `like` when it has no participant."""
    sums = [
        torch.zeros_like(v, dtype=torch.float64 if v.is_floating_point() else torch.int64)
        for v in like
    ]
    for n, state in zip(sizes, states):
        for acc, vec in zip(sums, state):
            acc += n * (vec.double() if vec.is_floating_point() else vec)
    return sums


def mean_of_sum(sums: list[torch.Tensor], total: int) -> list[torch.Tensor]:
    """The weighted mean from the round's sum over `total` samples, in the wire dtypes
    (integer vectors rounded down, as `average_flat` does)."""
    return [
        (s / total).float() if s.is_floating_point() else torch.div(s, total, rounding_mode="floor")
        for s in sums
    ]
