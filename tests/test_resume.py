"""Checkpoints, exact resume, and failing fast when a rank dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import (
    NO_GPU,
    ROOT,
    SMALL_JOB,
    alive,
    assert_same_results,
    read_metrics,
    small_config,
    spawn_job,
)

TIMEOUT_S = 300
"""runtime.timeout_s of the jobs below: far beyond FAIL_FAST_S, so a job that ends within that
ended because a rank's death was noticed, not because its peers timed out."""
FAIL_FAST_S = 30
"""How soon after a rank is killed every rank must be gone: generous for a loaded 2-core
machine (the launcher notices within a poll and stops the others within STOP_GRACE_S)."""


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["splitfed_v1", "cse_fsl", "fsl_sage"])
def test_resumed_run_equals_uninterrupted(tmp_path, algorithm):
    """Stop after 2 rounds, continue to 3 on the same RUN_DIR: bitwise the same as 3 at once.
    fsl.align_interval=2 makes the resumed round an alignment round that uses the restored
    aux heads, optimizers and smashed stores."""
    common = [f"algorithm={algorithm}", "checkpoint.every=1", "fsl.align_interval=2"]
    straight = small_config(tmp_path, *common, "rounds=3", "output.name=straight")
    spawn_job(straight)
    spawn_job(small_config(tmp_path, *common, "rounds=2", "output.name=resumed"))
    resumed = small_config(tmp_path, *common, "rounds=3", "output.name=resumed")
    spawn_job(resumed)
    assert_same_results(straight.run_dir, resumed.run_dir)
    manifest = json.loads((resumed.run_dir / "checkpoints" / "manifest.json").read_text())
    assert manifest["round"] == 2
    assert [p.name for p in (resumed.run_dir / "checkpoints").glob("round_*")] == ["round_000002"]


def _start(
    tmp_path: Path, name: str, *extra: str, launcher: tuple[str, ...] = ()
) -> subprocess.Popen:
    """`fsl-sage run` of a 12-round SMALL_JOB; `launcher` (e.g. torchrun's arguments) goes
    before it."""
    args = [
        "run",
        *SMALL_JOB,
        "algorithm=fsl_sage",
        "rounds=12",
        f"runtime.timeout_s={TIMEOUT_S}",
        "fsl.align_interval=3",
        "checkpoint.every=1",
        f"output.dir={tmp_path}",
        f"output.name={name}",
        *extra,
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT), **NO_GPU)
    return subprocess.Popen(
        [sys.executable, *launcher, "-m", "fsl_sage_dist", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """`_start`'s job run once without interruption: what every interrupted run must equal."""
    tmp = tmp_path_factory.mktemp("straight")
    proc = _start(tmp, "straight")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return tmp / "straight"


def _wait_for_rounds(run_dir: Path, rounds: int, deadline_s: float = 120) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        path = run_dir / "metrics.jsonl"
        if path.exists() and len(path.read_text().splitlines()) >= rounds:
            return
        time.sleep(0.05)
    raise AssertionError(f"{run_dir} did not reach {rounds} rounds")


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0], ids=["client_host", "server"])
def test_killed_rank_fails_fast_and_rerun_resumes(tmp_path, victim, straight):
    """SIGKILL a rank mid-run: every rank is gone within FAIL_FAST_S (not runtime.timeout_s),
    the launcher's one line names the killed rank and the signal, and a rerun resumes."""
    proc = _start(tmp_path, "killed")
    run_dir = tmp_path / "killed"
    _wait_for_rounds(run_dir, 3)
    pids = [json.loads((run_dir / "ranks" / f"rank{r}.json").read_text())["pid"] for r in range(3)]
    os.kill(pids[victim], signal.SIGKILL)
    killed_at = time.monotonic()
    try:
        out, err = proc.communicate(timeout=FAIL_FAST_S)
    except subprocess.TimeoutExpired:  # killing the launcher kills its ranks (PDEATHSIG)
        proc.kill()
        out, err = proc.communicate()
    elapsed = time.monotonic() - killed_at
    print(f"job ended {elapsed:.1f} s after SIGKILL of rank {victim}; stderr tail:\n{err[-800:]}")
    assert proc.returncode != 0
    assert elapsed < FAIL_FAST_S, f"{elapsed:.0f} s: the peers waited for a timeout"
    role = "server" if victim == 0 else "client host"
    cause = f"error: rank {victim} ({role}) was killed by SIGKILL"
    assert cause in err.splitlines(), err[-800:]
    assert not any(alive(pid) for pid in pids), "no orphan rank may remain"

    rerun = _start(tmp_path, "killed")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-2000:]
    assert "resuming" in out
    assert_same_results(run_dir, straight)


def test_checkpoint_of_another_config_is_refused_before_spawn(tmp_path, capsys, no_spawn):
    from fsl_sage_dist.checkpoint import write_manifest
    from fsl_sage_dist.cli import main

    job = [*SMALL_JOB, "algorithm=fsl_sage", f"output.dir={tmp_path}"]
    cfg = small_config(tmp_path, "algorithm=fsl_sage")
    cfg.run_dir.mkdir(parents=True)
    write_manifest(cfg, 0, [(1, bytes(32))] * cfg.world_size)
    (cfg.run_dir / "metrics.jsonl").write_text("{}\n")
    assert main(["run", *job, "data.alpha=0.3"]) == 2
    assert "data.alpha: checkpoint 0.5, now 0.3" in capsys.readouterr().err
    assert main(["run", *job, "launch.client_hosts=1"]) == 2
    assert "set launch.client_hosts=2 to resume" in capsys.readouterr().err


TORCHRUN_RESTARTING = (
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nproc_per_node=3",
    "--max-restarts=1",
)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["built-in", "torchrun"])
def test_launcher_restart_resumes_by_itself(tmp_path, launcher, straight):
    """launch.max_restarts=1, or torchrun --max-restarts=1 (in-place restart, same agent
    store): after a SIGKILL the ranks are restarted and pick up the checkpoint; the job ends
    well and equals an uninterrupted run."""
    if launcher == "torchrun":
        proc = _start(tmp_path, "restarted", launcher=TORCHRUN_RESTARTING)
    else:
        proc = _start(tmp_path, "restarted", "launch.max_restarts=1")
    run_dir = tmp_path / "restarted"
    _wait_for_rounds(run_dir, 3)
    os.kill(json.loads((run_dir / "ranks" / "rank2.json").read_text())["pid"], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "resuming" in out
    assert_same_results(run_dir, straight)


@pytest.mark.slow
def test_ctrl_c_stops_every_rank_and_keeps_the_checkpoint(tmp_path):
    proc = _start(tmp_path, "interrupted")
    run_dir = tmp_path / "interrupted"
    _wait_for_rounds(run_dir, 3)
    pids = [json.loads((run_dir / "ranks" / f"rank{r}.json").read_text())["pid"] for r in range(3)]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT
    assert "stopped by signal 2" in err and "Traceback" not in err
    assert not any(alive(pid) for pid in pids), "no orphan rank may remain"
    rerun = _start(tmp_path, "interrupted")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0 and "resuming" in out, err[-2000:]
    assert len(read_metrics(run_dir)) == 12
