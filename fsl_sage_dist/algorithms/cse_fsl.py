"""CSE-FSL: each client trains its auxiliary head on its own local loss, every iteration.

The aux head's NLL gives both the aux update and the gradient the client model steps on;
client models and aux heads are averaged at every round end (so aux heads go up and down).
"""

from __future__ import annotations

import torch

from fsl_sage_dist.algorithms.base import StepLoss, VirtualClient, adam
from fsl_sage_dist.algorithms.lazy_server import LazyServerAlgorithm, client_aux_loss
from fsl_sage_dist.data import ClientData


class CSEFSL(LazyServerAlgorithm):
    name = "cse_fsl"
    averaged = ("client_model", "aux_model")

    def new_client(self, cid: int, data: ClientData) -> VirtualClient:
        client = super().new_client(cid, data)
        client.aux_optimizer = adam(client.aux, self.cfg.fsl.aux_lr, weight_decay=0.0)
        return client

    def client_update(
        self,
        client: VirtualClient,
        round_: int,
        it: int,
        x: torch.Tensor,
        y: torch.Tensor,
        z: torch.Tensor,
    ) -> StepLoss:
        z_hat = z.detach().requires_grad_()
        client.aux_optimizer.zero_grad(set_to_none=True)
        loss = self.objective.mean(client.aux(z_hat), y)
        loss.backward()
        client.aux_optimizer.step()
        client.optimizer.zero_grad(set_to_none=True)
        z.backward(z_hat.grad)
        client.optimizer.step()
        return client_aux_loss(client.id, loss, len(y))
