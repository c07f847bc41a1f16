"""Sample-weighted averaging of flat model states, in a fixed order.

The caller passes states in ascending client id; summing in that order (never pre-summed on a
host, never inside a collective) is what makes the result independent of the client layout.
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
