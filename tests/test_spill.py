"""Spilling idle clients' state to disk (`runtime.spill`) changes no bit of a run, resumed or
not, and a checkpoint refers to the spilled files instead of copying them."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from fsl_sage_dist.checkpoint import load_rank_state, read_manifest
from fsl_sage_dist.plan.placement import participants

from harness import assert_same_results, small_config, spawn_job

# 6 clients, 3 sampled per round, 6 rounds: every client takes part at least twice
SAMPLED = [
    "clients.num=6",
    "clients.per_round=3",
    "rounds=6",
    "data.partition=dirichlet",
    "data.alpha=1.0",
    "fsl.server_interval=2",
    "fsl.align_interval=1",
]


def assert_same(a, b) -> None:
    assert len(assert_same_results(a, b)) == 6


def job(tmp_path, algorithm: str, name: str, *extra: str):
    cfg = small_config(tmp_path, f"algorithm={algorithm}", *SAMPLED, f"output.name={name}", *extra)
    spawn_job(cfg)
    return cfg


def test_every_client_takes_part_several_times():
    counts = Counter(c for r in range(6) for c in participants(200, r, 6, 3))
    assert sorted(counts) == list(range(6)) and min(counts.values()) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["cse_fsl", "splitfed_v1"])
def test_spilled_equals_in_memory(tmp_path, algorithm):
    """CSE-FSL's clients keep two Adam states; SplitFed-v1's server keeps one per client."""
    kept = job(tmp_path, algorithm, "kept")
    spilled = job(tmp_path, algorithm, "spilled", "runtime.spill=true")
    assert_same(kept.run_dir, spilled.run_dir)


@pytest.mark.slow
def test_fsl_sage_spilled_and_resumed_equals_in_memory(tmp_path):
    """FSL-SAGE's clients keep their own aux heads and Adam moments between participations;
    the resumed run stops after round 3 and reads them back through its checkpoint's
    references."""
    kept = job(tmp_path, "fsl_sage", "kept", "checkpoint.every=0")
    resumed = ["runtime.spill=true", "checkpoint.every=1"]
    first = job(tmp_path, "fsl_sage", "resumed", *resumed, "rounds=3")
    seen = {c for r in range(3) for c in participants(200, r, 6, 3)}
    for rank, clients in ((0, seen), (1, {c for c in seen if c % 2 == 0})):  # host 1: even ids
        refs = load_rank_state(first.run_dir, read_manifest(first), rank)["client_states"]
        assert {int(c) for c in refs} == clients
        assert all(set(e) == {"round", "file", "bytes", "sha256"} for e in refs.values())
    cfg = job(tmp_path, "fsl_sage", "resumed", *resumed)
    assert_same(kept.run_dir, cfg.run_dir)
    folder = cfg.run_dir / "client_state" / "rank1"
    final = {int(c) for r in range(6) for c in participants(200, r, 6, 3) if c % 2 == 0}
    # one file per client, and those the previous checkpoint still refers to: nothing more
    assert len(final) <= len(list(folder.glob("*.pt"))) <= 2 * len(final)


def _rounds_until_all_took_part(clients: int, per_round: int) -> int:
    seen: set[int] = set()
    rounds = 0
    while len(seen) < clients:
        seen.update(participants(200, rounds, clients, per_round))
        rounds += 1
    return rounds


MEMORY_JOB = [
    "algorithm=cse_fsl",
    "runtime.spill=true",
    "data.synthetic_size=[2000, 200]",
    "data.synthetic_shape=[1, 8, 8]",
    "eval.every=1000",
    "checkpoint.every=0",
]
"""8x8 inputs keep the server's layers small (its steps cost most of a round); a client's own
state (the two convs' Adam moments, ~0.8 MiB) is what it is on Fashion-MNIST."""


@pytest.mark.slow
def test_host_memory_with_a_thousand_clients_stays_near_twenty(tmp_path):
    """1,000 clients, 100 sampled per round, until every one has taken part (94 rounds, ~5 min
    on a busy 2-core machine): each host's peak RSS stays near that of 20 clients all taking
    part (10 per host at a time where the larger run has 50). Kept in memory, the ~500 idle
    clients' Adam moments would add ~0.5 GiB per host."""
    peaks = {}
    for clients, per_round in ((20, 20), (1000, 100)):
        rounds = _rounds_until_all_took_part(clients, per_round)
        cfg = small_config(
            tmp_path,
            *MEMORY_JOB,
            f"clients.num={clients}",
            f"clients.per_round={per_round}",
            f"rounds={rounds}",
            f"output.name=n{clients}",
        )
        spawn_job(cfg)
        summary = json.loads((cfg.run_dir / "summary.json").read_text())
        peaks[clients] = summary["peak_rss_mib"][1:]  # the client hosts
    print(f"peak RSS MiB per host: 20 clients {peaks[20]}, 1000 clients {peaks[1000]}")
    assert max(peaks[1000]) < 1.3 * max(peaks[20])
