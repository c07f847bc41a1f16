"""FedAvg: every client trains its own full copy (client part + server part); copies averaged.

Textbook FedAvg, not the reference's shared server half (ALGORITHMS.md Part I item 3). No
smashed data moves; the full model goes up and down once per participating client per round.
"""

from __future__ import annotations

import torch
from torch import nn

from fsl_sage_dist.algorithms.base import Algorithm, StepLoss, VirtualClient, loss_sum
from fsl_sage_dist.models import clone


class FedAvg(Algorithm):
    name = "fedavg"

    def client_module(self) -> nn.Module:
        return clone(self.template.full())

    def client_update(
        self,
        client: VirtualClient,
        round_: int,
        it: int,
        x: torch.Tensor,
        y: torch.Tensor,
        z: torch.Tensor,
    ) -> StepLoss:
        client.optimizer.zero_grad(set_to_none=True)
        self.objective.mean(z, y).backward()
        client.optimizer.step()
        return StepLoss(client.id, loss_sum(self.objective, z, y), len(y))

    def eval_model(self, client_model: nn.Module) -> nn.Module:
        return client_model
