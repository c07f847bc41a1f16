"""The round model: a round's tasks, replayed from its message log on a network profile.

    plan = Plan.of_dict(read_config(run_dir, []))
    times = replay(plan, read_messages(run_dir), net)     # list[RoundTime]

A round is replayed as tasks on resources (`engine.py`): each participating client has its own
compute, its own uplink and its own downlink, each doing one thing at a time in program order;
the server computes one thing at a time, in the order the runtime serves uploads
(`plan/schedule.py`); an asynchronous FSL-SAGE fit runs beside it on a second server resource. A
message of b bytes on a link of W bit/s holds the link for 8*b/W seconds and arrives rtt/2 after
it leaves, so back-to-back messages (activations, then their labels and headers) pipeline.
Every metered message of the log (`messages.jsonl`, `run_dir.md`) is one transfer, at the
iteration it was sent or received in (none: the round-end exchange). Who waits for what is the
runtime's, read off the log and the run's plan (its algorithm's spec, its placement):

- a client's update at iteration `it` waits for every download metered at `it` (SplitFed's cut
  gradient; a synchronous FSL-SAGE alignment's aux head), which the server sends after its step
  on that client's upload of `it`; every other upload is never waited for;
- co-hosted clients (`launch.client_hosts` < `clients.num`) advance in lockstep as on their
  host: iteration it + 1 starts when all of them finished it, and updates start when all of
  them finished the forward pass; with whole turns (SplitFed-v2, `fsl.server_order =
  "client_major"`) a host's clients go one after another, and the server serves whole turns;
- the round-end exchange: a client sends its states once its host is done; the server averages a
  category once all of it arrived, then sends it down; asynchronous aux heads follow once their
  fit is done.

Compute is either the run's measured seconds (`messages.jsonl`) or declared per-task times
(`network.compute = "declared"`), times `network.client_slowdown` on clients. Evaluation is not
simulated (it measures, it does not train). `network.server_mbps` > 0 puts every transfer also
on the server's link, which serves them one at a time in the order they become ready: the same
total throughput as fair sharing, not the same order of completion.

Pure Python and numpy: it never imports torch, so it runs wherever RUN_DIR is copied to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from fsl_sage_dist.config import NetworkConfig
from fsl_sage_dist.plan import AlgorithmSpec, Plan
from fsl_sage_dist.plan.schedule import step_order
from fsl_sage_dist.plan.seeds import seed_sequence
from fsl_sage_dist.rundir.messages import LogError, Message, RoundMessages
from fsl_sage_dist.timeline.engine import Tasks
from fsl_sage_dist.units import NO_ITERATION

FORWARD_SHARE = 1 / 3
"""Declared compute: the forward pass's share of a client iteration (backward ~ 2x forward)."""


def bandwidth_factors(net: NetworkConfig, seed: int, num_clients: int) -> np.ndarray:
    """Each client's bandwidth multiplier: exp(spread * N(0, 1)), drawn from the run's
    "network" stream (the same for every round and both directions; all ones when spread is
    0). Drawn from the stream's seed sequence itself, not `numpy_rng`'s 63-bit seed of it, so
    the factors of recorded runs stay what they were."""
    rng = np.random.default_rng(seed_sequence(seed, "network"))
    return np.exp(net.spread * rng.standard_normal(num_clients))


# -- one round --------------------------------------------------------------------------------


@dataclass
class Compute:
    """A round's compute times, measured or declared, in seconds."""

    forward: dict[tuple[int, int], float]
    update: dict[tuple[int, int], float]
    step: dict[tuple[int, int], float]
    align: dict[int, float]
    average: dict[str, float]
    round_end: float

    @classmethod
    def of(cls, log: RoundMessages, net: NetworkConfig, spec: AlgorithmSpec) -> Compute:
        slow = net.client_slowdown
        aligned = log.align_s.keys()
        if net.compute == "declared":
            it_s = net.client_iter_ms / 1000 * slow
            return cls(
                {k: it_s * FORWARD_SHARE for k in log.client_s},
                {k: it_s * (1 - FORWARD_SHARE) for k in log.client_s},
                defaultdict(lambda: net.server_step_ms / 1000),
                {c: net.align_ms / 1000 for c in aligned},
                defaultdict(float),
                0.0,
            )
        # Only timed work of the server's own counts (SplitFed-v1's server copies): FSL-SAGE's
        # round end just waits for the fits, which are modelled.
        round_end = log.round_end_s if spec.server_round_end_work else 0.0
        return cls(
            {k: f * slow for k, (f, _) in log.client_s.items()},
            {k: u * slow for k, (_, u) in log.client_s.items()},
            defaultdict(float, log.server_step_s),
            dict(log.align_s),
            defaultdict(float, log.average_s),
            round_end,
        )


@dataclass
class RoundTime:
    round: int
    seconds: float
    client_s: float
    """Critical-path seconds of client compute."""
    server_s: float
    """Critical-path seconds of server compute."""
    transfer_s: float
    """Critical-path seconds of messages on links or in flight."""
    client_idle: float
    """Mean over participants of the share of the round a client's compute sits idle."""


class RoundGraph:
    """The tasks of one round (see the module docstring for who waits for what)."""

    def __init__(
        self, plan: Plan, log: RoundMessages, net: NetworkConfig, factors: np.ndarray
    ) -> None:
        self.plan, self.log, self.net, self.factors = plan, log, net, factors
        fifo = frozenset({"server up", "server down"}) if net.server_mbps > 0 else frozenset()
        self.tasks = Tasks(fifo)
        self.compute = Compute.of(log, net, plan.spec)
        self.sent: dict[tuple[int, int, str], list[Message]] = defaultdict(list)
        for m in log.messages:
            self.sent[m.client, m.iteration, m.direction].append(m)
        self.fwd: dict[tuple[int, int], int] = {}  # (client, iteration) -> its forward task
        self.upd: dict[tuple[int, int], int] = {}  # ... and its update task
        self._build()

    def transfer(self, m: Message, after: list[int]) -> int:
        net = self.net
        mbps = net.up_mbps if m.direction == "up" else net.down_mbps
        bps = mbps * 1e6 * float(self.factors[m.client])
        resources: tuple[str, ...] = (f"{m.direction} {m.client}",)
        if net.server_mbps > 0:
            bps = min(bps, net.server_mbps * 1e6)
            resources += (f"server {m.direction}",)
        return self.tasks.add(
            "transfer", 8 * m.nbytes / bps, resources, after, latency=net.rtt_ms / 2000
        )

    def _build(self) -> None:
        log, tasks, comp = self.log, self.tasks, self.compute
        iters = {c: log.iterations(c) for c in log.participants}
        ups, downs = {}, {}
        for c in log.participants:
            for it in range(iters[c]):
                cpu = (f"cpu {c}",)
                self.fwd[c, it] = f = tasks.add("client", comp.forward[c, it], cpu)
                ups[c, it] = [self.transfer(m, [f]) for m in self.sent[c, it, "up"]]
                downs[c, it] = [self.transfer(m, []) for m in self.sent[c, it, "down"]]
                if downs[c, it] and not ups[c, it]:
                    raise LogError(
                        f"round {log.round}: client {c} received a message at "
                        f"iteration {it} without uploading there"
                    )
                self.upd[c, it] = tasks.add("client", comp.update[c, it], cpu, [f, *downs[c, it]])
        self.fits = self._serve(iters, ups, downs)
        for host in self.plan.placement.hosts_of(log.participants):
            self._host_order(host, iters)
        self._round_end(iters)

    def _serve(self, iters: dict[int, int], ups: dict, downs: dict) -> dict[int, int]:
        """Server steps in the runtime's order (`plan/schedule.py`) over the uploads the log
        holds; returns client -> its asynchronous fit."""
        chosen = sorted(self.log.participants)
        steps = step_order(chosen, iters.__getitem__, self.plan.whole_turns)
        order = [(c, it) for c, it in steps if ups[c, it]]
        comp, fits, async_fit = self.compute, {}, self.plan.async_fit
        for c, it in order:
            aligns = it == 0 and c in comp.align
            seconds = comp.step[c, it] + (comp.align[c] if aligns and not async_fit else 0.0)
            step = self.tasks.add("server", seconds, ("server",), ups[c, it])
            for d in downs[c, it]:
                self.tasks.after[d].append(step)
            if aligns and async_fit:
                fits[c] = self.tasks.add("server", comp.align[c], ("fitter",), [step])
        return fits

    def _host_order(self, host: list[int], iters: dict[int, int]) -> None:
        """What running a host's clients on one rank adds: lockstep, or whole turns in order."""
        after = self.tasks.after
        if self.plan.whole_turns:
            for prev, c in zip(host, host[1:]):
                after[self.fwd[c, 0]].append(self.upd[prev, iters[prev] - 1])
            return
        for it in range(max(iters[c] for c in host)):
            stepping = [c for c in host if it < iters[c]]
            for c in stepping:
                if it > 0:
                    after[self.fwd[c, it]] += [
                        self.upd[p, it - 1] for p in host if it - 1 < iters[p]
                    ]
                after[self.upd[c, it]] += [self.fwd[p, it] for p in stepping]

    def _round_end(self, iters: dict[int, int]) -> None:
        tasks, comp = self.tasks, self.compute
        arrived: dict[str, list[int]] = defaultdict(list)
        for host in self.plan.placement.hosts_of(self.log.participants):
            trained = [self.upd[c, iters[c] - 1] for c in host]
            for c in host:
                for m in self.sent[c, NO_ITERATION, "up"]:
                    arrived[m.category].append(self.transfer(m, trained))
        averaged = {
            cat: tasks.add("server", comp.average[cat], ("server",), ups)
            for cat, ups in arrived.items()
        }
        round_end = tasks.add("server", comp.round_end, ("server",), list(averaged.values()))
        for c in self.log.participants:
            for m in self.sent[c, NO_ITERATION, "down"]:
                if m.category in averaged:
                    self.transfer(m, [averaged[m.category]])
                else:  # sent by the server's round end: FSL-SAGE's asynchronous aux head
                    fit = [self.fits[c]] if c in self.fits else []
                    self.transfer(m, [round_end, *fit])

    def time(self) -> RoundTime:
        schedule = self.tasks.run()
        total = schedule.makespan
        path = schedule.critical_path()
        idle = [
            1 - schedule.busy(f"cpu {c}") / total if total > 0 else 0.0
            for c in self.log.participants
        ]
        return RoundTime(
            self.log.round,
            total,
            path["client"],
            path["server"],
            path["transfer"],
            float(np.mean(idle)) if idle else 0.0,
        )


def simulate_round(plan: Plan, log: RoundMessages, net: NetworkConfig) -> RoundTime:
    factors = bandwidth_factors(net, plan.seed, plan.num_clients)
    return RoundGraph(plan, log, net, factors).time()


def replay(plan: Plan, logs: list[RoundMessages], net: NetworkConfig) -> list[RoundTime]:
    return [simulate_round(plan, log, net) for log in logs]
