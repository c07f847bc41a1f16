"""Damaged checkpoints are refused before anything in RUN_DIR changes, and a rank whose save
fails is named on every rank."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
import torch

from fsl_sage_dist.checkpoint import (
    CheckpointError,
    load_rank_state,
    rank_file,
    read_manifest,
    save_rank_state,
    write_manifest,
)
from fsl_sage_dist.config import ConfigError, load_config
from fsl_sage_dist.rundir.records import JsonLines, RecordsError
from fsl_sage_dist.runtime import rank_errors
from fsl_sage_dist.runtime.rank_errors import error_file

from harness import SMALL_JOB, digest, run_cli, small_config

SMALL = [
    *SMALL_JOB,
    "algorithm=fsl_sage",
    "clients.num=2",
    "data.synthetic_size=[128,64]",
    "runtime.timeout_s=60",
    "checkpoint.every=1",
]
TIMEOUT_S = 300  # runtime.timeout_s where a test times how fast every rank stops
FAIL_FAST_S = 30  # generous for a loaded 2-core machine, and far below TIMEOUT_S


# ---------------------------------------------------------------------------------------------
# Fast: one rank's file against the manifest, no job.


@pytest.fixture
def saved(tmp_path):
    """A manifest for 3 ranks over real tensor files, as `_checkpoint` writes them."""
    cfg = load_config(None, [f"output.dir={tmp_path}", "output.name=run"])
    files = [
        save_rank_state(cfg.run_dir, 0, rank, {"w": torch.full((64,), float(rank))})
        for rank in range(cfg.world_size)
    ]
    write_manifest(cfg, 0, files)
    return cfg, read_manifest(cfg)


def _garble_tensor_byte(path: Path) -> None:
    """Flip one byte of the tensor data itself (the last bytes before the zip directory are
    the storage of `w`): torch.load alone would load it as a wrong weight."""
    data = bytearray(path.read_bytes())
    offset = data.find(torch.full((64,), 1.0).numpy().tobytes())
    assert offset > 0
    data[offset + 5] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("garble", "SHA-256 differs"),
        ("truncate", "bytes where the manifest says"),
        ("empty", "the file is empty"),
        ("missing", "No such file"),
        ("swap", "SHA-256 differs"),
    ],
)
def test_damaged_rank_file_is_refused_naming_it(saved, damage, reason):
    cfg, manifest = saved
    path = rank_file(cfg.run_dir, 0, 1)
    if damage == "garble":
        _garble_tensor_byte(path)
        weights = torch.load(path, weights_only=True)["w"]  # torch alone loads it silently
        assert not weights.eq(1.0).all()
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:-10])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "missing":
        path.unlink()
    else:  # same size, another rank's content
        shutil.copy(rank_file(cfg.run_dir, 0, 2), path)
    with pytest.raises(CheckpointError, match=reason) as caught:
        load_rank_state(cfg.run_dir, manifest, 1)
    assert str(caught.value).startswith(f"rank 1: cannot read checkpoint {path}: ")
    assert load_rank_state(cfg.run_dir, manifest, 2)["w"].eq(2.0).all(), "others still load"


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"round": 0}\n{"round": 1, "x": [1,\n{"round": 2}\n', "line 2 is not valid JSON"),
        ('{"round": 0}\n{"round": 2}\n', "line 2 is not round 1"),
        ('{"round": 0}\n{"round": 1}', r"holds 1 round\(s\) but the checkpoint covers 2"),
    ],
)
def test_metrics_that_cannot_back_a_resume_name_file_and_line(tmp_path, text, problem):
    log = JsonLines(tmp_path / "metrics.jsonl")
    log.path.write_text(text)
    with pytest.raises(RecordsError, match=problem) as caught:
        log.read_covered(1)
    assert str(caught.value).startswith(str(log.path))
    assert log.path.read_text() == text, "reading changes nothing"


def test_metrics_past_the_checkpoint_are_dropped_half_line_included(tmp_path):
    log = JsonLines(tmp_path / "metrics.jsonl")
    log.path.write_text('{"round": 0}\n{"round": 1}\n{"round": 2, "te')
    log.restore(log.read_covered(0))
    assert log.path.read_text() == '{"round": 0}\n'


# ---------------------------------------------------------------------------------------------
# Slow: the whole job refuses to resume and RUN_DIR stays bitwise as it was.


def _unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    """Every file as it was; the only new files allowed are ranks' error records."""
    assert {k: after.get(k) for k in before} == before
    assert all(k.startswith("ranks/") and k.endswith(".err") for k in set(after) - set(before))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A 1-round run with its checkpoint."""
    root = tmp_path_factory.mktemp("integrity")
    proc = run_cli("run", *SMALL, "rounds=1", f"output.dir={root}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root / "run"


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage, named, reason",
    [
        ("garble", "round_000000/rank1.pt: its SHA-256 differs", ""),
        # rank1.pt or rank2.pt, whichever rank fails first; sizes differ or hashes do
        ("swap", "round_000000/rank", "where the manifest says|its SHA-256 differs"),
        ("cut_metrics", "metrics.jsonl holds 0 round(s)", ""),
        ("garble_messages", "messages.jsonl, line 1 is not valid JSON", ""),
    ],
)
def test_damaged_checkpoint_leaves_run_dir_bitwise_unchanged(
    finished_run, tmp_path, damage, named, reason
):
    """The one line is the failing rank's own error: the file and the reason, never a peer's
    echo (issue 31: most damage cases showed an echo without the reason, or another file)."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    folder = run_dir / "checkpoints" / "round_000000"
    if damage == "garble":
        data = bytearray((folder / "rank1.pt").read_bytes())
        data[len(data) // 2] ^= 0x01  # inside the tensor storage of a multi-MB file
        (folder / "rank1.pt").write_bytes(bytes(data))
    elif damage == "swap":
        a, b = (folder / "rank1.pt").read_bytes(), (folder / "rank2.pt").read_bytes()
        (folder / "rank1.pt").write_bytes(b)
        (folder / "rank2.pt").write_bytes(a)
    elif damage == "garble_messages":
        text = (run_dir / "messages.jsonl").read_text()
        (run_dir / "messages.jsonl").write_text("x" + text[1:])  # line 1 no longer JSON
    else:
        (run_dir / "metrics.jsonl").write_text("")
    if damage != "cut_metrics":  # a round finished after the checkpoint: a resume would cut it
        with (run_dir / "metrics.jsonl").open("a") as f:
            f.write('{"round": 1}\n')
    before = digest(run_dir)
    proc = run_cli("run", *SMALL, "rounds=2", f"output.dir={tmp_path}")
    print(proc.stderr[-1500:])
    assert proc.returncode != 0
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert named in line and "RUN_DIR is left as it was" in line, line
    assert re.search(reason, line) and rank_errors.CONSEQUENCE not in line, line
    _unchanged(before, digest(run_dir))


@pytest.mark.slow
def test_a_rank_whose_save_fails_is_named_and_every_rank_stops_fast(tmp_path):
    """rank1.pt of the first checkpoint is a folder, so only rank 1's save fails (os.replace
    onto a directory). Every rank raises the same error at once, naming rank 1 and its file:
    the job ends within FAIL_FAST_S of the failure, far below runtime.timeout_s."""
    blocked = tmp_path / "run" / "checkpoints" / "round_000000" / "rank1.pt"
    blocked.mkdir(parents=True)
    job = ["run", *SMALL, "rounds=2", f"output.dir={tmp_path}", f"runtime.timeout_s={TIMEOUT_S}"]
    proc = run_cli(*job, timeout=TIMEOUT_S / 2)  # a job waiting for the timeout never returns
    ended = time.time_ns()
    errors = [error_file(tmp_path / "run", r) for r in range(3)]
    failed_at = min(e.stat().st_mtime_ns for e in errors if e.exists())
    stop_s = (ended - failed_at) / 1e9
    print(f"job ended {stop_s:.1f} s after the first rank failed; stderr:\n{proc.stderr[-1500:]}")
    assert proc.returncode != 0
    cause = re.compile(
        rf"error: rank \d \((server|client host)\): CheckpointError: rank \d: "
        rf"(cannot save its checkpoint of round 1: is a directory: {re.escape(str(blocked))}"
        rf"|could not save the checkpoint of round 1 on rank 1 \(is a directory: "
        rf"{re.escape(str(blocked))}\); the previous checkpoint stays in force) "
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and cause.match(lines[0]), lines
    for rank, path in enumerate(errors):  # the agreement: every rank names rank 1's file
        first = path.read_text().split("\n", 1)[0] if path.exists() else "(no error recorded)"
        assert f"is a directory: {blocked}" in first, f"rank {rank}: {first}"
    assert stop_s < FAIL_FAST_S, f"{stop_s:.0f} s: ranks waited for runtime.timeout_s"
    assert not (tmp_path / "run" / "checkpoints" / "manifest.json").exists()


def test_a_manifest_of_an_unknown_format_is_refused_by_name(tmp_path):
    """A future layout is named as such, not left to fail inside load_state_dict."""
    cfg = small_config(tmp_path)
    write_manifest(cfg, 0, [(1, bytes(32))] * cfg.world_size)
    path = tmp_path / "run" / "checkpoints" / "manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["format"] == 1
    manifest["format"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="checkpoint format 99; this version reads format 1"):
        read_manifest(cfg)
