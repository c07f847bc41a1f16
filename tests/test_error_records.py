"""A failed rank's one-line cause reaches the user even when RUN_DIR cannot take it (a full or
read-only disk), and each attempt reads only its own ranks' errors (a stale, future-dated
`ranks/rankR.err` must not fail a rerun)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import torch
import torch.distributed as dist

from fsl_sage_dist.config import load_config
from fsl_sage_dist.errors import ConfigError, PeerError
from fsl_sage_dist.runtime import rank_errors
from fsl_sage_dist.wire.channel import waiting_for
from fsl_sage_dist.wire.transport import DistTransport

from availability import unavailable
from harness import SMALL_JOB, run_cli

JOB = [*SMALL_JOB, "rounds=1", "clients.num=2", "launch.client_hosts=1", "runtime.timeout_s=60"]


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        unavailable(f"cannot mount here: {done.stderr.strip()}")


@pytest.fixture
def full_fs(tmp_path):
    """A tiny tmpfs, filled to the last block before the run starts."""
    mount = tmp_path / "fs"
    mount.mkdir()
    _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount))
    try:
        (mount / "run").mkdir()
        with open(mount / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder bind-mounted read-only (root ignores file modes, not a read-only mount)."""
    source, mount = tmp_path / "source", tmp_path / "ro"
    (source / "run").mkdir(parents=True)
    mount.mkdir()
    _mount("--bind", str(source), str(mount))
    try:
        _mount("-o", "remount,bind,ro", str(mount))
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _failed_run_line(output_dir) -> str:
    """The one `error:` line of a run into `output_dir`, which must fail."""
    proc = run_cli("run", *JOB, f"output.dir={output_dir}")
    print(proc.stderr[-2000:])
    assert proc.returncode != 0
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    return line


@pytest.mark.slow
def test_a_full_disk_still_shows_the_cause_and_leaves_no_empty_error_file(full_fs):
    line = _failed_run_line(full_fs)
    assert f"no space left on device: {full_fs / 'run'}" in line, line
    assert not [p for p in (full_fs / "run").rglob("*.err") if p.stat().st_size == 0]


@pytest.mark.slow
def test_a_read_only_run_dir_still_shows_the_cause(read_only_dir):
    line = _failed_run_line(read_only_dir)
    assert "read-only file system" in line and str(read_only_dir / "run") in line, line
    assert "without recording an error" not in line


@pytest.mark.slow
def test_a_future_dated_error_record_in_run_dir_does_not_fail_the_run(tmp_path):
    """RUN_DIR copied from a machine whose clock is ahead: its rank1.err is 'newer' than the
    launch, but it is not this attempt's error."""
    stale = rank_errors.error_file(tmp_path / "run", 1)
    stale.parent.mkdir(parents=True)
    stale.write_text("rank 1 (client host): RuntimeError: an old failure\n")
    ahead = time.time() + 3600
    os.utime(stale, (ahead, ahead))
    proc = run_cli("run", *JOB, f"output.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "summary.json").is_file()


def test_an_unwritable_run_dir_leaves_the_record_to_the_launchers_folder(
    tmp_path, monkeypatch, capsys
):
    """In process: RUN_DIR's ranks/ cannot be created; the launcher's folder gets the summary
    and why there is no traceback, and no partial file is left in RUN_DIR."""
    run_dir, spare = tmp_path / "run", tmp_path / "spare"
    run_dir.mkdir()
    (run_dir / "ranks").write_text("a file where the folder should be")
    spare.mkdir()
    monkeypatch.setenv(rank_errors.ERRORS_DIR_ENV, str(spare))
    rank_errors.record_error(run_dir, 2, "client host", ValueError("bad thing"))
    (found,) = rank_errors.recorded_errors(spare, range(3))
    assert found.rank == 2
    assert found.summary == "rank 2 (client host): ValueError: bad thing"
    assert found.where == f"no traceback: file exists: {run_dir / 'ranks'}"
    assert capsys.readouterr().err == "", "the launcher prints the line, not the rank"
    monkeypatch.setenv(rank_errors.ERRORS_DIR_ENV, str(tmp_path / "missing"))
    rank_errors.record_error(run_dir, 1, "client host", ValueError("worse"))
    assert "rank 1 (client host): ValueError: worse" in capsys.readouterr().err


def test_a_ranks_own_runtime_error_is_not_labelled_a_peers(tmp_path, monkeypatch):
    """Only the transport's failures are a peer's consequence: torch's own RuntimeError (an
    overflow inside Adam) is this rank's cause, and the launcher must show it first."""
    monkeypatch.setenv(rank_errors.ERRORS_DIR_ENV, str(tmp_path))
    own = RuntimeError("value cannot be converted to type float without overflow")
    rank_errors.record_error(tmp_path / "run", 1, "client host", own)
    rank_errors.record_error(tmp_path / "run", 2, "client host", PeerError("Connection closed"))
    found = {e.rank: e for e in rank_errors.recorded_errors(tmp_path, range(3))}
    assert not found[1].consequence and rank_errors.CONSEQUENCE not in found[1].summary
    assert found[2].consequence


def test_torch_distributed_failures_are_peer_errors(monkeypatch):
    def closed(*args, **kwargs):
        raise RuntimeError("[../gloo/transport/tcp/pair.cc:534] Connection closed by peer")

    monkeypatch.setattr(dist, "recv", closed)
    with pytest.raises(PeerError, match="waiting for rank 2: .*Connection closed by peer"):
        with waiting_for(2):
            DistTransport().recv(torch.zeros(1), 2)


@pytest.mark.parametrize("key", ["train.lr", "fsl.aux_lr"])
def test_learning_rates_are_bounded_in_the_config(key):
    """lr=1e40 used to start and fail inside Adam ('cannot be converted to type float')."""
    with pytest.raises(ConfigError, match=f"{key}=1e\\+40 is invalid"):
        load_config(None, [f"{key}=1e40"])
