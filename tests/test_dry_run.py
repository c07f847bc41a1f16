"""`fsl-sage run --dry-run` starts nothing, and its closed-form bytes are what a run meters."""

from __future__ import annotations

import dataclasses

import pytest

from fsl_sage_dist.algorithms.expected_bytes import ModelBytes
from fsl_sage_dist.cli import main
from fsl_sage_dist.models import build_split_model
from fsl_sage_dist.plan import Plan
from fsl_sage_dist.runtime.build import load_split, partition
from fsl_sage_dist.runtime.dry_run import alignments, dry_run_report, round_payload
from fsl_sage_dist.runtime.in_process import run_in_process

from harness import ALGORITHMS, SMALL_JOB, small_config

SMALL = [*SMALL_JOB, "data.synthetic_size=[470,200]"]


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path, capsys):
    assert main(["run", "--dry-run", *SMALL, f"output.dir={tmp_path}", "output.name=x"]) == 0
    out = capsys.readouterr().out
    for section in ("# resolved config", "# placement", "# model", "# closed-form bytes"):
        assert section in out
    assert "rank 2: client host, 2 clients [1, 3]" in out
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_closed_form_equals_the_meter(tmp_path, algorithm):
    """Dirichlet clients of unequal sizes, partial last batches, q=2 so uploads skip batches,
    and FSL-SAGE aligning in round 0 only (l=10)."""
    cfg = small_config(
        tmp_path,
        f"algorithm={algorithm}",
        "data.partition=dirichlet",
        "data.alpha=1.0",
        "data.synthetic_size=[240, 100]",
        "train.batch_size=16",
        "fsl.server_interval=2",
        "fsl.align_epochs=1",
        "eval.every=2",
    )
    sizes = [len(p) for p in partition(cfg, load_split(cfg, "train"))]
    assert len(set(sizes)) > 1
    report = dry_run_report(cfg)  # also checks the report builds for every algorithm
    assert "closed-form" in report
    model = ModelBytes.of(build_split_model(cfg.model.name, (1, 28, 28), 10))
    metered = [r["round_payload_bytes"] for r in run_in_process(cfg)]
    expected = [
        sum(sum(v.values()) for v in round_payload(cfg, sizes, model, t == 0).values())
        for t in range(cfg.rounds)
    ]
    assert metered == expected


def test_alignments_are_counted_by_the_ranks_schedule(tmp_path):
    """Without sampling every client aligns in rounds t % l == 0; with it, every client aligns
    at its first participation at least, and align_staleness="rounds" never aligns less."""
    plain = small_config(tmp_path, "rounds=7", "fsl.align_interval=3")
    assert alignments(plain) == plain.clients.num * 3  # rounds 0, 3, 6
    sampled = small_config(
        tmp_path, "clients.num=10", "clients.per_round=3", "rounds=40", "fsl.align_interval=5"
    )
    plan = Plan.of(sampled)
    took_part = {c for t in range(sampled.rounds) for c in plan.participants(t)}
    assert alignments(sampled) >= len(took_part)
    stale = dataclasses.replace(
        sampled, fsl=dataclasses.replace(sampled.fsl, align_staleness="rounds")
    )
    assert alignments(stale) >= alignments(sampled)
