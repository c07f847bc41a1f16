"""Learning, seen from outside: every algorithm learns, every client step descends, FSL-SAGE's
alignment moves the aux head's gradient towards the true one, FedAvg is SplitFed-v1, and the
results do not depend on how clients are placed on hosts.

All runs are in-process (`runtime/in_process.py`: the same roles and algorithm objects as a
distributed run, over loopback channels), shared by the tests through session fixtures.
The setting has clients of unequal size (Dirichlet) and several upload slots per client and
round (`fsl.server_interval=2`), so averaging weights and the order of lazy server updates
both matter.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fsl_sage_dist.algorithms import REGISTRY, fsl_sage, splitfed
from fsl_sage_dist.algorithms.lazy_server import aux_input_grad
from fsl_sage_dist.runtime import server as server_role
from fsl_sage_dist.runtime.in_process import run_in_process

from harness import ALGORITHMS, small_config, untimed

LEARNING = [
    "rounds=3",
    "data.synthetic_shape=[1,16,16]",
    "data.synthetic_size=[480,200]",
    "data.partition=dirichlet",
    "data.alpha=1.0",
    "fsl.server_interval=2",
    "fsl.align_interval=2",
    "fsl.align_epochs=100",
]
CHANCE = 0.1
FLOOR = 0.35  # test accuracy every algorithm must pass after 3 rounds (chance: 0.1)


@dataclasses.dataclass
class Watched:
    """A run's per-round results and what the watchers saw during it."""

    rounds: list[dict]
    """metrics.jsonl's records."""
    step_changes: list[float]
    """Each client step's change of the objective the client descends, on that step's batch."""
    server_step_changes: list[float]
    """Each server step's change of the server model's loss on the batch it stepped on."""
    aux_step_changes: list[float]
    """CSE-FSL: each client aux step's change of the aux head's loss on that step's batch."""
    alignments: list[tuple[float, float]]
    """FSL-SAGE: relative error of the aux head's cut gradient before and after each alignment."""
    averaged_sizes: list[list[int]]
    """The sample counts, in the order the server handed client states to `average_flat`."""


def learning_config(algorithm: str, hosts: int, out: Path):
    return small_config(
        out,
        f"algorithm={algorithm}",
        f"launch.client_hosts={hosts}",
        f"output.name={algorithm}_{hosts}",
        *LEARNING,
    )


def _client_objective(side, client, y: torch.Tensor, z: torch.Tensor, cut_grad) -> torch.Tensor:
    """What the client's step must decrease, as a function of its output z on the batch."""
    if side.ctx.spec.name == "fedavg":
        return F.nll_loss(z, y)  # the full model's own loss
    if side.ctx.spec.name.startswith("splitfed"):
        return (cut_grad[0] * z).sum()  # first order, along the server's true cut gradient
    return F.nll_loss(client.aux(z), y)  # the aux head's loss


def _aux_loss(aux, z: torch.Tensor, y: torch.Tensor) -> float:
    return float(F.nll_loss(aux(z), y))


def _watch_client_steps(monkeypatch, changes: list[float], aux_changes: list[float]) -> None:
    cut_grad: list[torch.Tensor] = []

    def remember_cut_grad(*args, **kwargs):
        grad = original_recv(*args, **kwargs)
        cut_grad[:] = [grad.detach().clone()]
        return grad

    original_recv = splitfed.recv_cut_grad
    monkeypatch.setattr(splitfed, "recv_cut_grad", remember_cut_grad)
    for cls in dict.fromkeys(client for client, _ in REGISTRY.values()):  # SplitFed's: once

        def update(self, step, _original=cls.update):
            client, x, y, z = step.client, step.x, step.y, step.z
            aux_before = copy.deepcopy(client.aux) if client.aux_optimizer else None
            result = _original(self, step)
            with torch.no_grad():
                after = client.model(x)
                changes.append(
                    float(
                        _client_objective(self, client, y, after, cut_grad)
                        - _client_objective(self, client, y, z.detach(), cut_grad)
                    )
                )
                if aux_before is not None:  # the aux head's own step, on the same features
                    aux_changes.append(
                        _aux_loss(client.aux, z.detach(), y) - _aux_loss(aux_before, z.detach(), y)
                    )
            return result

        monkeypatch.setattr(cls, "update", update)


def _server_model(side, client: int):
    if side.ctx.spec.name == "splitfed_v1":
        return side.server_for(client)[0]  # built at its first upload of the round
    return side.server[0] if side.ctx.spec.name == "splitfed_v2" else side.server


def _watch_server_steps(monkeypatch, changes: list[float]) -> None:
    for _, cls in REGISTRY.values():

        def step(self, round_, it, batch, _original=cls.step):
            model = _server_model(self, batch.client)
            z, y = batch.activations.detach().clone(), batch.labels
            with torch.no_grad():
                before = F.nll_loss(model(z), y)
            result = _original(self, round_, it, batch)
            with torch.no_grad():
                changes.append(float(F.nll_loss(model(z), y) - before))
            return result

        monkeypatch.setattr(cls, "step", step)


def _watch_alignment(monkeypatch, alignments: list[tuple[float, float]]) -> None:
    original = fsl_sage.fit_aux

    def fit_aux(aux, optimizer, z, y, targets, *args, **kwargs):
        true = targets / len(y)  # d NLL_mean / dz over the stored rows

        def error() -> float:
            return float((aux_input_grad(aux, z, y) - true).norm() / true.norm())

        before = error()
        original(aux, optimizer, z, y, targets, *args, **kwargs)
        alignments.append((before, error()))

    monkeypatch.setattr(fsl_sage, "fit_aux", fit_aux)


def _watch_averaging(monkeypatch, sizes_seen: list[list[int]]) -> None:
    original = server_role.average_flat

    def average_flat(states, sizes):
        sizes_seen.append(list(sizes))
        return original(states, sizes)

    monkeypatch.setattr(server_role, "average_flat", average_flat)


def watched_run(algorithm: str, hosts: int, out: Path) -> Watched:
    watched = Watched(
        rounds=[],
        step_changes=[],
        server_step_changes=[],
        aux_step_changes=[],
        alignments=[],
        averaged_sizes=[],
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        _watch_client_steps(monkeypatch, watched.step_changes, watched.aux_step_changes)
        _watch_server_steps(monkeypatch, watched.server_step_changes)
        _watch_alignment(monkeypatch, watched.alignments)
        _watch_averaging(monkeypatch, watched.averaged_sizes)
        watched.rounds = run_in_process(learning_config(algorithm, hosts, out))
    return watched


@pytest.fixture(scope="session")
def two_host_runs(tmp_path_factory) -> dict[str, Watched]:
    out = tmp_path_factory.mktemp("learning")
    return {algorithm: watched_run(algorithm, 2, out) for algorithm in ALGORITHMS}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_learns(two_host_runs, algorithm):
    accs = [r["test_acc"] for r in two_host_runs[algorithm].rounds]
    print(f"{algorithm}: test accuracy per round {accs} (chance {CHANCE})")
    assert accs[-1] > FLOOR


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_client_steps_descend_their_objective(two_host_runs, algorithm):
    """A sign flip makes steps ascend, a missing optimizer step leaves them at zero change."""
    changes = two_host_runs[algorithm].step_changes
    descended = sum(c < 0 for c in changes) / len(changes)
    print(f"{algorithm}: {len(changes)} client steps, {descended:.0%} descended")
    assert len(changes) > 20 and descended > 0.8


@pytest.mark.parametrize("algorithm", ["splitfed_v1", "splitfed_v2", "cse_fsl", "fsl_sage"])
def test_server_steps_descend_the_server_loss(two_host_runs, algorithm):
    changes = two_host_runs[algorithm].server_step_changes
    descended = sum(c < 0 for c in changes) / len(changes)
    print(f"{algorithm}: {len(changes)} server steps, {descended:.0%} descended")
    assert len(changes) > 10 and descended > 0.8


def test_cse_fsl_aux_steps_descend_the_local_loss(two_host_runs):
    """CSE-FSL's aux head trains on the client's own loss: a zero (or flipped) aux loss would
    leave the server learning on random features, above the accuracy floor, but not this."""
    changes = two_host_runs["cse_fsl"].aux_step_changes
    descended = sum(c < 0 for c in changes) / len(changes)
    print(f"cse_fsl: {len(changes)} aux steps, {descended:.0%} descended")
    assert len(changes) > 20 and descended > 0.8


def test_alignment_brings_the_aux_gradient_closer_to_the_true_one(two_host_runs):
    """Rounds 0 and 2 align every client (l=2): each fit must cut the error by a fifth or more."""
    alignments = two_host_runs["fsl_sage"].alignments
    print(
        "relative error of the aux head's cut gradient, before -> after alignment:",
        [(round(b, 3), round(a, 3)) for b, a in alignments],
    )
    assert len(alignments) == 2 * 4
    assert all(after < 0.8 * before for before, after in alignments)


def test_fedavg_is_splitfed_v1_bitwise(two_host_runs):
    """Per-client server copies averaged with the client part are FedAvg's full-model average:
    the same computation, so the same accuracies and losses to the last bit."""
    fedavg, v1 = two_host_runs["fedavg"].rounds, two_host_runs["splitfed_v1"].rounds
    assert [(r["test_acc"], r["test_loss"]) for r in fedavg] == [
        (r["test_acc"], r["test_loss"]) for r in v1
    ]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_results_do_not_depend_on_the_client_layout(two_host_runs, algorithm, tmp_path):
    """Same clients on 1 host instead of 2: bitwise the same losses, accuracies and bytes, and
    client states averaged in the same order (client id). The order is checked directly: the
    float64 sums absorb a reordering almost always once cast back to float32."""
    one_host, two_hosts = watched_run(algorithm, 1, tmp_path), two_host_runs[algorithm]
    assert untimed(one_host.rounds) == untimed(two_hosts.rounds)
    assert len(set(one_host.averaged_sizes[0])) > 1, "clients must differ in size"
    assert two_hosts.averaged_sizes == one_host.averaged_sizes
