"""Run files are written whole or not at all: the atomic writer, whole-line appends, JSON
without NaN, and a run on a file system that fills up."""

from __future__ import annotations

import errno
import json
import os
import subprocess

import pytest

from fsl_sage_dist import atomic_write
from fsl_sage_dist.atomic_write import write_atomic
from fsl_sage_dist.errors import WriteError
from fsl_sage_dist.rundir.records import JsonLines, finite_json, read_metrics, write_json

from availability import unavailable
from harness import run_cli


def _disk_fills_after(monkeypatch, nbytes: int) -> None:
    """os.write in atomic_write writes `nbytes` in all, then fails as a full disk does."""
    left = [nbytes]
    real_write = os.write

    def write(fd: int, data) -> int:
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real_write(fd, bytes(data[: left[0]]))
        left[0] -= n
        return n

    monkeypatch.setattr(atomic_write.os, "write", write)


def test_failed_write_names_the_path_and_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    path.write_bytes(b"old")
    _disk_fills_after(monkeypatch, 10)
    with pytest.raises(WriteError) as caught:
        write_atomic(path, b"x" * 100)
    assert str(caught.value) == f"no space left on device: {path}"
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"], "no temp file left"


def test_write_over_a_folder_is_a_clear_error_without_temp(tmp_path):
    (tmp_path / "out.json").mkdir()
    with pytest.raises(WriteError, match=r"^is a directory: .*out\.json$"):
        write_json(tmp_path / "out.json", {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_keeps_permissions_of_ordinary_files(tmp_path):
    write_atomic(tmp_path / "f", b"1")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_append_leaves_whole_lines_only(tmp_path, monkeypatch):
    log = JsonLines(tmp_path / "metrics.jsonl")
    log.append({"round": 0, "test_acc": 0.5})
    before = log.path.read_bytes()
    _disk_fills_after(monkeypatch, 7)  # part of the next line reaches the file, then ENOSPC
    with pytest.raises(WriteError, match=f"no space left on device: {log.path}"):
        log.append({"round": 1, "test_acc": 0.6})
    assert log.path.read_bytes() == before
    assert len(log.records) == 1


def test_no_nan_or_infinity_in_json_null_and_a_flag_instead(tmp_path):
    record = {
        "round": 3,
        "train_loss": float("nan"),
        "test_loss": float("inf"),
        "host_s": [1.0, float("-inf")],
        "test_acc": 0.25,
    }
    text = finite_json(record)
    assert "NaN" not in text and "Infinity" not in text
    parsed = json.loads(text)
    assert parsed["train_loss"] is None and parsed["test_loss"] is None
    assert parsed["host_s"] == [1.0, None] and parsed["test_acc"] == 0.25
    assert parsed["nonfinite"] == ["train_loss", "test_loss", "host_s[1]"]
    assert finite_json({"a": 1.5}) == json.dumps({"a": 1.5}), "finite records are unchanged"
    log = JsonLines(tmp_path / "metrics.jsonl")
    log.append(record)
    assert json.loads(log.path.read_text())["nonfinite"] == parsed["nonfinite"]


# ---------------------------------------------------------------------------------------------
# A real file system that fills up in the middle of a run.


@pytest.fixture
def small_fs(tmp_path):
    """A 60 MiB tmpfs: room for the first round's checkpoint (about 37 MiB of rank files for
    the job below) and metrics, not for the second checkpoint next to the first."""
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=60m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
def test_full_disk_keeps_finished_rounds_readable(small_fs):
    proc = run_cli(
        "run",
        "algorithm=fedavg",
        "rounds=4",
        "clients.num=2",
        "launch.client_hosts=1",
        "data.name=synthetic",
        "data.synthetic_size=[128,64]",
        "train.batch_size=32",
        "runtime.threads_per_rank=1",
        "runtime.timeout_s=60",
        "checkpoint.every=1",
        f"output.dir={small_fs}",
        "output.name=run",
    )
    print(proc.stderr[-3000:])
    run_dir = small_fs / "run"
    assert proc.returncode != 0, "the disk must fill up before the run ends"
    assert "no space left on device: " in proc.stderr and str(run_dir) in proc.stderr
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")], "no temp files"
    text = (run_dir / "metrics.jsonl").read_text()
    assert text.endswith("\n"), "never a partial line"
    records = read_metrics(run_dir / "metrics.jsonl", [])
    assert len(records) >= 1
    manifest = json.loads((run_dir / "checkpoints" / "manifest.json").read_text())
    assert manifest["round"] < len(records)
    if (run_dir / "final_model.pt").exists():  # whole or absent, never truncated
        import torch

        torch.load(run_dir / "final_model.pt", weights_only=True)
    compare = run_cli("compare", str(run_dir))
    assert compare.returncode == 0, compare.stderr


def test_empty_metrics_of_a_failed_first_round_does_not_block_the_rerun(tmp_path):
    from fsl_sage_dist.config import load_config
    from fsl_sage_dist.preflight import check_run_dir

    cfg = load_config(None, [f"output.dir={tmp_path}", "output.name=run"])
    cfg.run_dir.mkdir()
    (cfg.run_dir / "metrics.jsonl").write_bytes(b"")
    check_run_dir(cfg)
    (cfg.run_dir / "metrics.jsonl").write_bytes(b'{"round": 0}\n')
    with pytest.raises(Exception, match="already holds a run"):
        check_run_dir(cfg)


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    """Without it a power loss can lose the rename itself (the new name's directory entry)."""
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomic(tmp_path / "a.json", b"{}")
    assert synced[-1] == str(tmp_path), synced
