"""FedAvg: every client trains its own full copy (client part + server part); copies averaged.

Textbook FedAvg, not the reference's shared server half (ALGORITHMS.md Part I item 3). No
smashed data moves; the full model goes up and down once per participating client per round
(the spec's `full_model_on_client`: the client half builds, and the server averages, the whole
model).
"""

from __future__ import annotations

from torch import nn

from fsl_sage_dist.algorithms.base import ClientSide, ServerSide, Step, StepLoss, loss_sum


class FedAvgClient(ClientSide):
    def update(self, step: Step) -> StepLoss:
        client, z, y = step.client, step.z, step.y
        client.optimizer.zero_grad(set_to_none=True)
        self.objective.mean(z, y).backward()
        client.optimizer.step()
        return StepLoss(client.id, loss_sum(self.objective, z, y), len(y))


class FedAvgServer(ServerSide):
    """Only averages (the driver's work) and evaluates the averaged model itself."""

    def eval_model(self, client_model: nn.Module) -> nn.Module:
        return client_model
