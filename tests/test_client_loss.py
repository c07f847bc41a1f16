"""`client_loss`: each client's own objective over all its batches, beside `train_loss`."""

from __future__ import annotations

import torch

from fsl_sage_dist.algorithms.base import StepLoss
from fsl_sage_dist.algorithms.lazy_server import aux_loss_and_grad, client_aux_loss
from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.memory import MeasuredPeak
from fsl_sage_dist.runtime.round_report import RoundReport, RoundResult, reduce_round
from fsl_sage_dist.wire.loopback import Loopback, LoopbackTransport
from fsl_sage_dist.wire.meter import zero_counts


def report(steps: list[StepLoss], clients: int = 3) -> RoundReport:
    """The report of a world of one (the server alone, over loopback)."""
    cpu = torch.device("cpu")
    result = RoundResult(steps, zero_counts(clients), 0.0, 0.0, list(range(clients)))
    return reduce_round(
        result,
        RankInfo(0, 1, "loopback", cpu, cpu),
        LoopbackTransport(Loopback([], timeout_s=1), 0),
        MeasuredPeak(cpu),
    )


def test_lazy_algorithms_report_the_aux_loss_over_all_batches():
    """Server steps on 1 in q batches give train_loss; every client step gives client_loss."""
    steps = [StepLoss(0, 2.0 * 10, 10), StepLoss(1, 4.0 * 10, 10)]  # two uploads
    steps += [StepLoss(c, 1.0 * 10, 10, aux=True) for c in (0, 1) for _ in range(5)]
    r = report(steps)
    assert r.train_loss == 3.0 and r.client_loss == 1.0


def test_full_model_algorithms_report_train_loss_as_client_loss():
    r = report([StepLoss(0, 6.0, 3), StepLoss(2, 3.0, 3)])
    assert r.client_loss == r.train_loss == 1.5


def test_client_aux_loss_is_the_batch_sum_of_the_aux_nll():
    aux = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LogSoftmax(dim=1))
    z, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    loss, grad = aux_loss_and_grad(aux, z, y)
    step = client_aux_loss(5, loss, len(y))
    expected = torch.nn.functional.nll_loss(aux(z), y, reduction="sum")
    assert step.aux and step.client == 5 and step.samples == 8
    assert abs(step.loss_sum - float(expected.detach())) < 1e-5 and grad.shape == z.shape
