"""Fitting an auxiliary head to the server's true cut-layer gradients (FSL-SAGE's alignment).

Targets: the current server, in train mode, on the client's stored rows. We take the per-sample
gradient of the NLL once (one forward/backward over all N rows, as the reference does, which
also updates BatchNorm statistics the same way), and give each alignment batch b the targets
`per_sample / |b|`: exactly the 1/|b| scale of the aux head's own prediction (NLL mean over b).
With the default batch >= N this is the reference's `d NLL_mean / d Z` over the whole store;
with a smaller batch it avoids the reference's N/|b| scale mismatch.

Fit: sum-reduced squared error between prediction and target, the client's persistent Adam,
`epochs` passes over shuffled batches.
"""

from __future__ import annotations

import torch
from torch import nn

from fsl_sage_dist.algorithms.lazy_server import aux_input_grad
from fsl_sage_dist.models.objective import CLASSIFICATION, Objective


def per_sample_cut_grads(
    server: nn.Module, z: torch.Tensor, y: torch.Tensor, *, objective: Objective = CLASSIFICATION
) -> torch.Tensor:
    """Gradient of each sample's own loss w.r.t. its row; server parameters are left untouched."""
    z = z.detach().requires_grad_()
    (grad,) = torch.autograd.grad(objective.sum(server(z), y), z)
    return grad


def align_aux(
    aux: nn.Module,
    optimizer: torch.optim.Optimizer,
    server: nn.Module,
    z: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    *,
    objective: Objective = CLASSIFICATION,
) -> None:
    targets = per_sample_cut_grads(server, z, y, objective=objective)
    fit_aux(aux, optimizer, z, y, targets, epochs, batch_size, generator, objective=objective)


def fit_aux(
    aux: nn.Module,
    optimizer: torch.optim.Optimizer,
    z: torch.Tensor,
    y: torch.Tensor,
    targets: torch.Tensor,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    *,
    objective: Objective = CLASSIFICATION,
) -> None:
    """The fit alone, given per-sample targets: touches only `aux` and `optimizer`, so it may
    run beside the server's other work."""
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator).to(z.device)
        for idx in order.split(batch_size):
            predicted = aux_input_grad(aux, z[idx], y[idx], create_graph=True, objective=objective)
            loss = (predicted - targets[idx] / len(idx)).pow(2).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
