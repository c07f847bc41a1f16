"""Many virtual clients: memory stays bounded by the clients actually sampled, not by N."""

from __future__ import annotations

import json

import pytest

from fsl_sage_dist.checkpoint import load_rank_state, read_manifest
from fsl_sage_dist.plan.placement import participants

from harness import small_config, spawn_job

RSS_BOUND_MIB = 1536  # per rank; ~0.85 GiB of it is the process with 4 clients (same data)
STORE_ROWS = 16


@pytest.mark.slow
def test_hundred_clients_ten_per_round_stay_within_memory_bound(tmp_path):
    cfg = small_config(
        tmp_path,
        "algorithm=fsl_sage",
        "clients.num=100",
        "clients.per_round=10",
        "launch.client_hosts=2",
        "data.synthetic_size=[4000, 200]",
        f"fsl.store_size={STORE_ROWS}",
        "checkpoint.every=2",
    )
    spawn_job(cfg)
    summary = json.loads((cfg.run_dir / "summary.json").read_text())
    print(f"peak RSS MiB per rank: {summary['peak_rss_mib']}")
    assert len(summary["peak_rss_mib"]) == 3
    assert max(summary["peak_rss_mib"]) < RSS_BOUND_MIB

    # The server holds aux head, optimizer and store only for clients it has seen, and each
    # store is capped at fsl.store_size rows although every client uploaded 32 rows per round.
    seen = {c for r in range(cfg.rounds) for c in participants(cfg.seed, r, 100, 10)}
    per_client = load_rank_state(cfg.run_dir, read_manifest(cfg), 0)["client_states"]
    assert {int(c) for c in per_client} == seen
    assert all(len(entry["state"]["labels"]) == STORE_ROWS for entry in per_client.values())
