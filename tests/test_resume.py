"""Checkpoints, exact resume, and failing fast when a rank dies."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from harness import ROOT, read_metrics, run_cli, small_config, spawn_job, untimed


def results(run_dir: Path) -> tuple[list[dict], dict]:
    metrics = untimed(read_metrics(run_dir))
    return metrics, torch.load(run_dir / "final_model.pt", weights_only=True)


def assert_same_results(a: Path, b: Path) -> None:
    (ma, wa), (mb, wb) = results(a), results(b)
    assert ma == mb
    for part in ("client", "full"):
        assert wa[part].keys() == wb[part].keys()
        for key in wa[part]:
            assert torch.equal(wa[part][key], wb[part][key]), key


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
    """`fsl-sage run` of a small job; `launcher` (e.g. torchrun's arguments) goes before it."""
    args = [
        "run",
        "algorithm=fsl_sage",
        "rounds=12",
        "clients.num=4",
        "launch.client_hosts=2",
        "data.name=synthetic",
        "data.synthetic_size=[480,200]",
        "train.batch_size=32",
        "runtime.threads_per_rank=1",
        "runtime.timeout_s=30",
        "fsl.align_epochs=5",
        "fsl.align_interval=3",
        "checkpoint.every=1",
        f"output.dir={tmp_path}",
        f"output.name={name}",
        *extra,
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0], ids=["client_host", "server"])
def test_killed_rank_fails_fast_and_rerun_resumes(tmp_path, victim, straight):
    proc = _start(tmp_path, "killed")
    run_dir = tmp_path / "killed"
    _wait_for_rounds(run_dir, 3)
    pids = [json.loads((run_dir / "ranks" / f"rank{r}.json").read_text())["pid"] for r in range(3)]
    os.kill(pids[victim], signal.SIGKILL)
    killed_at = time.monotonic()
    out, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - killed_at
    print(f"job ended {elapsed:.1f} s after SIGKILL of rank {victim}; stderr tail:\n{err[-800:]}")
    assert proc.returncode != 0
    assert elapsed < 30 + 10, "every rank must stop within runtime.timeout_s + slack"
    assert f"rank {victim}" in err
    assert not any(_alive(pid) for pid in pids), "no orphan rank may remain"

    rerun = _start(tmp_path, "killed")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-2000:]
    assert "resuming" in out
    assert_same_results(run_dir, straight)


def _digest(folder: Path) -> dict[str, str]:
    """Every file of RUN_DIR but ranks/, which says which processes ran last."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.parent.name != "ranks"
    }


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_damaged_checkpoint_is_a_clear_error_and_touches_nothing(tmp_path, damage):
    cfg = small_config(tmp_path, "algorithm=fsl_sage", "checkpoint.every=1")
    spawn_job(cfg)
    rank_file = cfg.run_dir / "checkpoints" / "round_000001" / "rank1.pt"
    data = rank_file.read_bytes()
    rank_file.write_bytes(
        data[: len(data) // 2]
        if damage == "truncate"
        else data[:100] + bytes(range(256)) * 4 + data[1124:]
    )
    before = _digest(cfg.run_dir)
    proc = run_cli(
        "run",
        "algorithm=fsl_sage",
        "checkpoint.every=1",
        "rounds=4",
        *[f"{k}" for k in _small_overrides(tmp_path)],
    )
    assert proc.returncode != 0
    assert "cannot read checkpoint" in proc.stderr and "rank1.pt" in proc.stderr
    assert _digest(cfg.run_dir) == before, "a failed resume must not change RUN_DIR"


def _small_overrides(tmp_path: Path) -> list[str]:
    return [
        "clients.num=4",
        "launch.client_hosts=2",
        "data.name=synthetic",
        "data.synthetic_size=[480,200]",
        "train.batch_size=32",
        "runtime.threads_per_rank=1",
        "runtime.timeout_s=120",
        f"output.dir={tmp_path}",
        "output.name=run",
        "fsl.align_epochs=5",
    ]


def test_checkpoint_of_another_config_is_refused_before_spawn(tmp_path, capsys):
    from fsl_sage_dist.checkpoint import write_manifest
    from fsl_sage_dist.cli import main
    from fsl_sage_dist.config import load_config

    cfg = load_config(None, _small_overrides(tmp_path) + ["algorithm=fsl_sage"])
    cfg.run_dir.mkdir(parents=True)
    write_manifest(cfg, 0, [(1, bytes(32))] * cfg.world_size)
    (cfg.run_dir / "metrics.jsonl").write_text("{}\n")
    # in this process: refused before anything is spawned
    assert main(["run", "algorithm=fsl_sage", "data.alpha=0.3", *_small_overrides(tmp_path)]) == 2
    assert "data.alpha: checkpoint 0.5, now 0.3" in capsys.readouterr().err
    assert (
        main(
            [
                "run",
                "algorithm=fsl_sage",
                *_small_overrides(tmp_path)[:1],
                "launch.client_hosts=1",
                *_small_overrides(tmp_path)[2:],
            ]
        )
        == 2
    )
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
    assert not any(_alive(pid) for pid in pids), "no orphan rank may remain"
    rerun = _start(tmp_path, "interrupted")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0 and "resuming" in out, err[-2000:]
    assert len(read_metrics(run_dir)) == 12
