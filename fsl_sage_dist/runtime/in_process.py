"""The in-process baseline: the server and every client in one process, taking turns.

The plain way to simulate federated split learning is one process that steps through the clients
and the server in turn and gives every core to torch's intra-op threads. `run_in_process` does
exactly that with the pieces of a distributed run (the same loops, roles and algorithm objects,
the same `Channel`), over a loopback transport (`wire/loopback.py`): the same arithmetic, the
same bytes and the same RUN_DIR files, none of the parallelism. It exists to measure what
distribution buys (`benchmarks/round_time.py`) and to test algorithms quickly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

from fsl_sage_dist.config import Config
from fsl_sage_dist.data import ImageSet
from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.runtime.build import build_channel, build_loop, load_split
from fsl_sage_dist.runtime.rank_loop import RankLoop
from fsl_sage_dist.runtime.server_loop import ServerLoop
from fsl_sage_dist.threads import set_threads
from fsl_sage_dist.wire.loopback import Loopback, LoopbackTransport


def take_turns(
    loopback: Loopback, jobs: list[Callable[[], None]], threads: int
) -> list[tuple[int, BaseException]]:
    """Run each job in a thread that computes only while it holds the baton. A job that raises
    wakes the others (as a closed connection would), so none waits for it in vain. Returns the
    jobs that raised, by index, in the order they raised."""
    failures: list[tuple[int, BaseException]] = []

    def hold_baton(index: int, job: Callable[[], None]) -> None:
        with loopback.baton:
            try:
                torch.set_num_threads(threads)  # OpenMP's thread count is per calling thread
                job()
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                failures.append((index, err))
                loopback.fail(f"{type(err).__name__}: {err}")

    workers = [threading.Thread(target=hold_baton, args=item) for item in enumerate(jobs)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return failures


def _rank_job(
    cfg: Config, loopback: Loopback, rank: int, train: ImageSet, loops: dict[int, RankLoop]
) -> Callable[[], None]:
    """What rank `rank` of a distributed run does, minus the process group and checkpoints."""
    cpu = torch.device("cpu")

    def job() -> None:
        info = RankInfo(rank, cfg.world_size, "loopback", cpu, cpu)
        channel = build_channel(cfg, info, LoopbackTransport(loopback, rank))
        loop = loops[rank] = build_loop(cfg, info, channel, train)
        loop.start(0)
        for round_ in range(cfg.rounds):
            loop.run_round(round_)
        loop.finish()

    return job


def run_in_process(cfg: Config) -> list[dict[str, Any]]:
    """Run `cfg` with rank 0's server and every client host's clients in this process; writes
    RUN_DIR as a distributed run does and returns its metrics records."""
    threads = set_threads(cfg.runtime.threads_per_rank, local_world=1)  # or (0) every core
    train = load_split(cfg, "train")
    loopback = Loopback(list(range(1, cfg.world_size)), cfg.runtime.timeout_s)
    loops: dict[int, RankLoop] = {}
    failures = take_turns(
        loopback,
        [_rank_job(cfg, loopback, rank, train, loops) for rank in range(cfg.world_size)],
        threads,
    )
    if failures:
        raise failures[0][1]  # the first to fail: the others stopped because of it
    server = loops[0]
    assert isinstance(server, ServerLoop)
    return server.recorder.metrics.records
