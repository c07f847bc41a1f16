"""`fsl-sage submit` against a real Slurm: the RUN_DIR of a 3-task job, a request Slurm can never
satisfy, and a preempted job that is requeued and resumes.

    bash slurm/local_cluster.sh up                 # real single-node Slurm (Debian, root)
    .venv/bin/python -m pytest tests/test_slurm.py

Without a Slurm controller the Slurm tests skip; with CI=true they fail instead, since CI
brings the local cluster up and a skip there would hide a broken bring-up. Job ids restart at
1 with every fresh cluster, so each job gets its own submitit folder (under tmp_path).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import torch

from fsl_sage_dist.config import ConfigError, load_config
from fsl_sage_dist.submit import run_arguments, tasks_per_node

from availability import unavailable
from harness import NO_GPU, ROOT, SMALL_JOB, assert_same_results, run_cli

# Three rounds with a checkpoint after each: the requeue test interrupts after the first and
# still has two rounds of margin; both Slurm tests compare against one local run of it.
JOB = [*SMALL_JOB, "rounds=3", "checkpoint.every=1"]


def _slurm_missing() -> str | None:
    if shutil.which("sbatch") is None:
        return "no Slurm here (sbatch not on PATH); start one: bash slurm/local_cluster.sh up"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=60)
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return f"no Slurm controller answers `scontrol ping`: {(ping.stdout + ping.stderr)!r}"
    return None


@pytest.fixture(scope="module")
def slurm() -> None:
    reason = _slurm_missing()
    if reason:
        unavailable(reason)


@pytest.fixture(scope="module")
def local_run(slurm, tmp_path_factory) -> Path:
    """RUN_DIR of JOB run with `fsl-sage run` on this machine, the reference for Slurm runs."""
    out = tmp_path_factory.mktemp("local")
    proc = run_cli("run", *JOB, f"output.dir={out}", "output.name=local")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "local"


def _assert_same_run(local: Path, submitted: Path) -> None:
    assert_same_results(submitted, local)
    assert (submitted / "partition.json").read_text() == (local / "partition.json").read_text()


def _job_logs(folder: Path) -> str:
    """Every task's stderr tail, for assertion messages."""
    logs = sorted(folder.rglob("*.err"))
    return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in logs)


def _submit_args(tmp_path: Path, name: str, *extra: str) -> list[str]:
    return [
        "submit",
        *JOB,
        *extra,
        f"output.dir={tmp_path}",
        f"output.name={name}",
        f"slurm.folder={tmp_path / 'logs'}",
    ]


def _job_id(stdout: str) -> str:
    return next(line.split()[2] for line in stdout.splitlines() if line.startswith("job id:"))


# --- without Slurm --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "slurm_args, hint",
    [
        (["slurm.tasks_per_node=2"], "set launch.client_hosts=1"),
        (["slurm.nodes=2"], "a multiple of slurm.nodes"),
    ],
)
def test_world_size_must_match_the_slurm_tasks(slurm_args, hint):
    with pytest.raises(ConfigError, match=hint):
        tasks_per_node(load_config(None, JOB + slurm_args))


def test_tasks_per_node_is_derived_or_checked():
    assert tasks_per_node(load_config(None, JOB)) == 3
    assert tasks_per_node(load_config(None, [*JOB, "launch.client_hosts=3", "slurm.nodes=2"])) == 2
    assert tasks_per_node(load_config(None, [*JOB, "slurm.tasks_per_node=3"])) == 3


def test_run_arguments_pin_one_run_dir(tmp_path, monkeypatch):
    """Every task (and every requeue) must land in the same RUN_DIR, even from another cwd."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, [*JOB, "output.dir=runs", 'output.name="2024"'])
    pinned = load_config(None, run_arguments(None, [*JOB, "output.dir=runs"], cfg))
    assert pinned.run_dir == tmp_path / "runs" / "2024"  # absolute, and "2024" stays a string


def test_world_size_mismatch_is_one_line_before_slurm(tmp_path, capsys):
    from fsl_sage_dist.cli import main  # in this process: nothing may reach Slurm

    assert main(_submit_args(tmp_path, "run", "slurm.tasks_per_node=4")) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "set launch.client_hosts=3" in lines[0], lines


# --- against a real Slurm -------------------------------------------------------------------


def test_impossible_request_fails_at_submission(slurm, tmp_path):
    proc = run_cli(*_submit_args(tmp_path, "run", "slurm.cpus_per_task=100000"), timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Slurm rejected the job: "), lines
    assert len(lines[0]) > len("error: Slurm rejected the job: ") + 5  # sbatch's own reason
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_submitted_job_equals_local_run(local_run, tmp_path):
    proc = run_cli(*_submit_args(tmp_path, "slurm"), "--wait", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr + _job_logs(tmp_path / "logs")
    job_id, run_dir = _job_id(proc.stdout), tmp_path / "slurm"
    assert f"logs:    {tmp_path / 'logs' / job_id}" in proc.stdout
    assert f"run dir: {run_dir}" in proc.stdout
    for name in ("config.toml", "partition.json", "metrics.jsonl", "summary.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "tb").is_dir()
    assert tomllib.loads((run_dir / "config.toml").read_text())["launch"]["client_hosts"] == 2
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 3 and summary["rounds"] == 3
    _assert_same_run(local_run, run_dir)
    sbatch = (tmp_path / "logs" / job_id / f"{job_id}_submission.sh").read_text()
    assert "#SBATCH --ntasks-per-node=3" in sbatch and "#SBATCH --signal=USR2@90" in sbatch


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a job that fails: NCCL without GPUs")
def test_wait_exits_with_the_failed_jobs_error(slurm, tmp_path):
    proc = run_cli(*_submit_args(tmp_path, "run", "runtime.backend=nccl"), "--wait", timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: job {_job_id(proc.stdout)} failed: ")
    )
    assert "runtime.backend='nccl' needs one GPU per rank" in proc.stderr


def _wait_for_manifest(run_dir: Path, proc: subprocess.Popen, timeout_s: float) -> int:
    manifest = run_dir / "checkpoints" / "manifest.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists():
            return json.loads(manifest.read_text())["round"]
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint within {timeout_s}s (submit exited: {proc.poll()})")


def _job_history(job_id: str, timeout_s: float = 30) -> list[str]:
    """The job's states in accounting, one per run, once its last run has fully ended (the
    results can be there while Slurm still completes the job)."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = subprocess.run(
            ["sacct", "-j", job_id, "--duplicates", "-X", "-n", "-o", "State"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if states and states[-1] not in ("RUNNING", "COMPLETING") or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


@pytest.mark.slow
def test_preempted_job_is_requeued_and_resumes(local_run, tmp_path):
    """Send the job the signal Slurm sends before a time limit or preemption (USR2, as
    submitit asks with --signal): rank 0 checkpoints and requeues, the rerun resumes from
    the last complete round, and `--wait` follows it to the end."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), **NO_GPU)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fsl_sage_dist", *_submit_args(tmp_path, "slurm"), "--wait"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    job_id = proc.stdout.readline().split()[2]
    try:
        interrupted_after = _wait_for_manifest(tmp_path / "slurm", proc, timeout_s=120)
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
        out, err = proc.communicate(timeout=240)
    except BaseException:  # never leave a job behind to hold the next test's CPUs
        subprocess.run(["scancel", job_id], capture_output=True)
        proc.kill()
        raise
    assert proc.returncode == 0, out + err + _job_logs(tmp_path / "logs")
    assert interrupted_after < 2, "the job was nearly done before it could be interrupted"
    assert _job_history(job_id) == ["REQUEUED", "COMPLETED"]
    rank0_log = (tmp_path / "logs" / job_id / f"{job_id}_0_log.out").read_text()
    assert "resuming" in rank0_log, rank0_log
    _assert_same_run(local_run, tmp_path / "slurm")
