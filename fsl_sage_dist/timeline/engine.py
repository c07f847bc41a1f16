"""A discrete-event engine: tasks on resources with dependencies, replayed in simulated time.

    tasks = Tasks()
    a = tasks.add("client", 0.5, ("cpu 0",))
    b = tasks.add("transfer", 0.1, ("up 0",), after=[a], latency=0.02)
    schedule = tasks.run()        # schedule.makespan == 0.62; schedule.critical_path()

It knows nothing of federated learning: the round model (`round_graph.py`) says which tasks a
round has and who waits for whom.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass

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
