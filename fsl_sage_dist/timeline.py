"""Simulated wall time of a run's rounds on a network profile, replayed from its message log.

    fsl-sage timeline runs/fsl_sage runs/splitfed_v1 --up-mbps 2 --down-mbps 10 --rtt-ms 60

A round is replayed as tasks on resources: each participating client has its own compute, its
own uplink and its own downlink, each doing one thing at a time in program order; the server
computes one thing at a time, in the order the runtime serves uploads (`runtime/server.py`
`upload_order`); an asynchronous FSL-SAGE fit runs beside it on a second server resource. A
message of b bytes on a link of W bit/s holds the link for 8*b/W seconds and arrives rtt/2 after
it leaves, so back-to-back messages (activations, then their labels and headers) pipeline.
Every metered message of the log (`messages.jsonl`, `run_dir.md`) is one transfer, at the
iteration it was sent or received in (none: the round-end exchange). Who waits for what is the
runtime's, read off the log and the config:

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

import heapq
import math
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from fsl_sage_dist.config import NetworkConfig
from fsl_sage_dist.rundir.messages import NO_ITERATION, LogError, Message
from fsl_sage_dist.rundir.messages import RoundMessages as RoundLog

FORWARD_SHARE = 1 / 3
"""Declared compute: the forward pass's share of a client iteration (backward ~ 2x forward)."""
LAZY = ("cse_fsl", "fsl_sage")


# -- the schedule of a run ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunShape:
    """What the replay needs from the run's config besides the log."""

    algorithm: str
    num_clients: int
    client_hosts: int
    whole_turns: bool
    async_align: bool
    seed: int

    @classmethod
    def of(cls, config: dict[str, Any]) -> RunShape:
        """From a resolved config as a dict (config.toml, or `config_to_dict`)."""
        algorithm, fsl = config["algorithm"], config["fsl"]
        turns = algorithm == "splitfed_v2" or (
            algorithm in LAZY and fsl["server_order"] == "client_major"
        )
        return cls(
            algorithm,
            config["clients"]["num"],
            config["launch"]["client_hosts"],
            turns,
            algorithm == "fsl_sage" and fsl["async_align"],
            config["seed"],
        )

    def hosts(self, participants: list[int]) -> list[list[int]]:
        """The participants per host (client c on host 1 + c mod H), ascending."""
        by_host: dict[int, list[int]] = defaultdict(list)
        for c in sorted(participants):
            by_host[c % self.client_hosts].append(c)
        return [by_host[h] for h in sorted(by_host)]


def bandwidth_factors(net: NetworkConfig, seed: int, num_clients: int) -> np.ndarray:
    """Each client's bandwidth multiplier: exp(spread * N(0, 1)), drawn from the seed (the same
    for every round and both directions; all ones when spread is 0)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(b"network")]))
    return np.exp(net.spread * rng.standard_normal(num_clients))


# -- the event engine -------------------------------------------------------------------------

KINDS = ("client", "server", "transfer")


class Tasks:
    """Tasks on resources with dependencies, replayed in simulated time.

    A task starts once every task in its `after` is done and all its resources are free; an
    ordered resource takes its tasks in the order they were added (a program's order), a FIFO
    resource in the order they became ready. A task holds its resources for `duration` and is
    done `latency` later (a message in flight holds no link)."""

    def __init__(self, fifo: frozenset[str] = frozenset()) -> None:
        self.fifo = fifo
        self.kind: list[str] = []
        self.duration: list[float] = []
        self.latency: list[float] = []
        self.resources: list[tuple[str, ...]] = []
        self.after: list[list[int]] = []
        self.queues: dict[str, list[int]] = defaultdict(list)

    def add(
        self,
        kind: str,
        duration: float,
        resources: tuple[str, ...] = (),
        after: list[int] | tuple[int, ...] = (),
        latency: float = 0.0,
    ) -> int:
        task = len(self.kind)
        self.kind.append(kind)
        self.duration.append(duration)
        self.latency.append(latency)
        self.resources.append(resources)
        self.after.append(list(after))
        for r in resources:
            if r not in self.fifo:
                self.queues[r].append(task)
        return task

    def run(self) -> Schedule:
        n = len(self.kind)
        waiting = [len(set(a)) for a in self.after]
        dependents: list[list[int]] = [[] for _ in range(n)]
        for task, deps in enumerate(self.after):
            for d in set(deps):
                dependents[d].append(task)
        head = dict.fromkeys(self.queues, 0)
        free: dict[str, float] = defaultdict(float)
        holder: dict[str, int] = {}
        ready = [0.0] * n
        binding = [-1] * n  # the task whose end let this one start (for the critical path)
        start, done = [0.0] * n, [math.nan] * n
        pushed = [False] * n
        heap: list[tuple[float, float, int]] = []

        def at_front(t: int) -> bool:
            return all(
                self.queues[r][head[r]] == t for r in self.resources[t] if r not in self.fifo
            )

        def when(t: int) -> float:
            return max([ready[t], *(free[r] for r in self.resources[t])])

        def offer(t: int) -> None:
            if not pushed[t] and waiting[t] == 0 and at_front(t):
                pushed[t] = True
                heapq.heappush(heap, (when(t), ready[t], t))

        for t in range(n):
            offer(t)
        while heap:
            key, _, t = heapq.heappop(heap)
            begin = when(t)
            if begin > key:  # a resource was taken meanwhile
                heapq.heappush(heap, (begin, ready[t], t))
                continue
            start[t] = begin
            end = begin + self.duration[t]
            done[t] = end + self.latency[t]
            blockers = [(free[r], holder[r]) for r in self.resources[t] if r in holder]
            if blockers and max(blockers)[0] >= ready[t]:
                binding[t] = max(blockers)[1]
            for r in self.resources[t]:
                free[r], holder[r] = end, t
                if r not in self.fifo:
                    head[r] += 1
                    if head[r] < len(self.queues[r]):
                        offer(self.queues[r][head[r]])
            for d in dependents[t]:
                if done[t] >= ready[d]:
                    ready[d] = done[t]
                    binding[d] = t
                waiting[d] -= 1
                offer(d)
        if any(math.isnan(x) for x in done):
            raise RuntimeError("the round's tasks wait on each other in a cycle")
        return Schedule(self, start, done, binding)


@dataclass
class Schedule:
    tasks: Tasks
    start: list[float]
    done: list[float]
    binding: list[int]

    @property
    def makespan(self) -> float:
        return max(self.done, default=0.0)

    def critical_path(self) -> dict[str, float]:
        """Seconds of the makespan by kind, along the chain of tasks that set it."""
        shares = dict.fromkeys(KINDS, 0.0)
        t = max(range(len(self.done)), key=self.done.__getitem__, default=-1)
        until = self.makespan
        while t >= 0:  # each task counts up to where its successor on the chain starts
            shares[self.tasks.kind[t]] += until - self.start[t]
            until, t = self.start[t], self.binding[t]
        return shares

    def busy(self, resource: str) -> float:
        return sum(self.tasks.duration[t] for t in self.tasks.queues.get(resource, ()))


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
    def of(cls, log: RoundLog, net: NetworkConfig, shape: RunShape) -> Compute:
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
        # For FSL-SAGE the server's round end only waits for the fits, which are modelled.
        round_end = log.round_end_s if shape.algorithm == "splitfed_v1" else 0.0
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
        self, shape: RunShape, log: RoundLog, net: NetworkConfig, factors: np.ndarray
    ) -> None:
        self.shape, self.log, self.net, self.factors = shape, log, net, factors
        fifo = frozenset({"server up", "server down"}) if net.server_mbps > 0 else frozenset()
        self.tasks = Tasks(fifo)
        self.compute = Compute.of(log, net, shape)
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
        for host in self.shape.hosts(log.participants):
            self._host_order(host, iters)
        self._round_end(iters)

    def _serve(self, iters: dict[int, int], ups: dict, downs: dict) -> dict[int, int]:
        """Server steps in the runtime's order; returns client -> its asynchronous fit."""
        order = [(c, it) for c in self.log.participants for it in range(iters[c]) if ups[c, it]]
        if not self.shape.whole_turns:
            order.sort(key=lambda key: (key[1], key[0]))
        comp, fits = self.compute, {}
        for c, it in order:
            aligns = it == 0 and c in comp.align
            seconds = comp.step[c, it] + (
                comp.align[c] if aligns and not self.shape.async_align else 0.0
            )
            step = self.tasks.add("server", seconds, ("server",), ups[c, it])
            for d in downs[c, it]:
                self.tasks.after[d].append(step)
            if aligns and self.shape.async_align:
                fits[c] = self.tasks.add("server", comp.align[c], ("fitter",), [step])
        return fits

    def _host_order(self, host: list[int], iters: dict[int, int]) -> None:
        """What running a host's clients on one rank adds: lockstep, or whole turns in order."""
        after = self.tasks.after
        if self.shape.whole_turns:
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
        for host in self.shape.hosts(self.log.participants):
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


def simulate_round(shape: RunShape, log: RoundLog, net: NetworkConfig) -> RoundTime:
    factors = bandwidth_factors(net, shape.seed, shape.num_clients)
    return RoundGraph(shape, log, net, factors).time()


def replay(shape: RunShape, logs: list[RoundLog], net: NetworkConfig) -> list[RoundTime]:
    return [simulate_round(shape, log, net) for log in logs]
