"""runtime.averaging: `reduce` (hosts pre-sum, one reduction per state) against `exact` (one
message per participant, summed on the server in client-id order)."""

from __future__ import annotations

import pytest

from fsl_sage_dist.runtime.in_process import run_in_process

from harness import read_metrics, small_config, spawn_job, untimed

# CSE-FSL averages client models and aux heads; sampling leaves a host without participants
JOB = [
    "algorithm=cse_fsl",
    "clients.num=5",
    "clients.per_round=3",
    "launch.client_hosts=2",
    "rounds=3",
    "data.partition=dirichlet",
    "data.alpha=1.0",
]


def _close(a: list[dict], b: list[dict], key: str) -> bool:
    return all(x[key] == pytest.approx(y[key], rel=1e-3) for x, y in zip(a, b))


def test_reduce_meters_the_same_bytes_and_learns_the_same_model(tmp_path):
    exact = run_in_process(small_config(tmp_path, *JOB, "output.name=exact"))
    reduce = run_in_process(
        small_config(tmp_path, *JOB, "output.name=reduce", "runtime.averaging=reduce")
    )
    assert [r["bytes"] for r in reduce] == [r["bytes"] for r in exact]
    assert [r["participants"] for r in reduce] == [r["participants"] for r in exact]
    for key in ("test_loss", "train_loss", "client_loss"):
        assert _close(reduce, exact, key), key
    print(
        "test_acc exact", [r["test_acc"] for r in exact], "reduce", [r["test_acc"] for r in reduce]
    )


@pytest.mark.slow
def test_reduce_over_gloo_is_bitwise_reproducible_for_a_layout(tmp_path):
    runs = []
    for name in ("a", "b"):
        cfg = small_config(tmp_path, *JOB, "runtime.averaging=reduce", f"output.name={name}")
        spawn_job(cfg)
        runs.append(untimed(read_metrics(cfg.run_dir)))
    assert runs[0] == runs[1]
    exact = run_in_process(small_config(tmp_path, *JOB, "output.name=exact"))
    assert [r["bytes"] for r in runs[0]] == [r["bytes"] for r in exact]
    assert _close(runs[0], exact, "test_loss")
