"""CSE-FSL: each client trains its auxiliary head on its own local loss, every iteration.

The aux head's NLL gives both the aux update and the gradient the client model steps on;
client models and aux heads are averaged at every round end (so aux heads go up and down).
"""

from __future__ import annotations

from fsl_sage_dist.algorithms.base import Step, StepLoss, VirtualClient, adam
from fsl_sage_dist.algorithms.lazy_server import LazyClient, LazyServer, client_aux_loss
from fsl_sage_dist.data import ClientData


class CSEFSLClient(LazyClient):
    def new_client(self, cid: int, data: ClientData) -> VirtualClient:
        client = super().new_client(cid, data)
        client.aux_optimizer = adam(client.aux, self.ctx.fsl.aux_lr, weight_decay=0.0)
        return client

    def update(self, step: Step) -> StepLoss:
        client, z, y = step.client, step.z, step.y
        z_hat = z.detach().requires_grad_()
        client.aux_optimizer.zero_grad(set_to_none=True)
        loss = self.objective.mean(client.aux(z_hat), y)
        loss.backward()
        client.aux_optimizer.step()
        client.optimizer.zero_grad(set_to_none=True)
        z.backward(z_hat.grad)
        client.optimizer.step()
        return client_aux_loss(client.id, loss, len(y))


class CSEFSLServer(LazyServer):
    """The shared lazy server alone: the aux heads are the clients' business."""
