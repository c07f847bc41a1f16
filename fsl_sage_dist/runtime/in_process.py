"""The in-process baseline: the server and every client in one process, taking turns.

The plain way to simulate federated split learning is one process that steps through the clients
and the server in turn and gives every core to torch's intra-op threads. `run_in_process` does
exactly that, with the same roles and algorithm objects as a distributed run, over loopback
channels (`wire/loopback.py`): the same arithmetic and the same bytes, none of the parallelism.
It exists to measure what distribution buys (`benchmarks/round_time.py`); it writes no files.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..config import Config
from ..metrics import MIB
from ..threads import set_threads
from ..wire import ByteMeter, Channel, counts_to_bytes, payload_bytes
from ..wire.loopback import Loopback, LoopbackTransport
from .client_host import ClientHostRole
from .server import ServerRole
from .server_loop import evaluates
from .worker import build_algorithm, host_role, load_split, partition


@dataclass
class InProcessRound:
    round: int
    round_s: float
    """Wall seconds from the previous round's end (after its evaluation) to this one's."""
    test_acc: float | None
    test_loss: float | None
    payload_bytes: int = 0


def _serve(cfg: Config, server: ServerRole, rounds: list[InProcessRound]) -> None:
    last = time.perf_counter()
    for round_ in range(cfg.rounds):
        server.run_round(round_)
        acc, loss = server.evaluate() if evaluates(cfg, round_) else (None, None)
        now = time.perf_counter()
        rounds.append(InProcessRound(round_, now - last, acc, loss))
        last = now


def _host(cfg: Config, role: ClientHostRole, payload: list[int]) -> None:
    meter = role.ctx.channel.meter
    for round_ in range(cfg.rounds):
        role.run_round(round_)
        payload[round_] += payload_bytes(counts_to_bytes(meter.round_counts()))
        meter.reset_round()


def _take_turns(loopback: Loopback, jobs: list[Callable[[], None]], threads: int) -> None:
    """Run each job in a thread that computes only while it holds the baton."""
    errors: list[BaseException] = []

    def hold_baton(job: Callable[[], None]) -> None:
        with loopback.baton:
            try:
                torch.set_num_threads(threads)  # OpenMP's thread count is per calling thread
                job()
            except BaseException as err:  # noqa: BLE001 - handed to the caller below
                errors.append(err)
                loopback.fail(f"{type(err).__name__}: {err}")

    workers = [threading.Thread(target=hold_baton, args=(job,)) for job in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


def run_in_process(cfg: Config) -> list[InProcessRound]:
    """Run `cfg` with rank 0's server and every client host's clients in this process."""
    threads = set_threads(cfg, local_world=1)  # runtime.threads_per_rank, or every core
    device = torch.device("cpu")
    train, test = load_split(cfg, "train"), load_split(cfg, "test")
    parts = partition(cfg, train)
    hosts = list(range(1, cfg.world_size))
    loopback = Loopback(hosts, cfg.runtime.timeout_s)

    def endpoint(rank: int) -> Channel:
        return Channel(LoopbackTransport(loopback, rank),
                       ByteMeter(cfg.clients.num) if rank else None, device, device,
                       int(cfg.wire.max_message_mib * MIB), cfg.wire.activation_dtype)

    server = ServerRole(build_algorithm(cfg, train, device, endpoint(0)),
                        [len(p) for p in parts], test)
    roles = [host_role(cfg, build_algorithm(cfg, train, device, endpoint(r)), r, train, parts)
             for r in hosts]
    rounds: list[InProcessRound] = []
    payload = [0] * cfg.rounds
    jobs = [lambda: _serve(cfg, server, rounds),
            *[lambda role=role: _host(cfg, role, payload) for role in roles]]
    _take_turns(loopback, jobs, threads)
    for record in rounds:
        record.payload_bytes = payload[record.round]
    return rounds
