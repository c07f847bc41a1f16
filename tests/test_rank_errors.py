"""The cause of a failed job reaches the user in one line; its traceback stays in
ranks/rankR.err."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fsl_sage_dist.runtime.in_process import run_in_process

from harness import NO_GPU, ROOT, SMALL_JOB, alive, run_cli, small_config

SMALL = [*SMALL_JOB, "algorithm=fsl_sage"]


@pytest.mark.slow
def test_the_servers_protocol_error_reaches_the_user_in_one_line(tmp_path):
    """wire.max_message_mib=0.001: the server refuses the first smashed batch; the user sees
    that, not a client host's 'Connection closed by peer' or pages of torch traceback."""
    proc = run_cli(
        "run",
        f"output.dir={tmp_path}",
        *SMALL,
        "rounds=1",
        "runtime.timeout_s=60",
        "wire.max_message_mib=0.001",
    )
    print(proc.stderr)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, "one line on stderr"
    assert lines[0].startswith(
        "error: rank 0 (server): ProtocolError: message from rank 1: header field 'size'"
    )
    assert "wire.max_message_mib" in lines[0] and "rank0.err" in lines[0]
    assert "Traceback" in (tmp_path / "run" / "ranks" / "rank0.err").read_text()


@pytest.mark.slow
def test_a_stalled_rank_is_named_and_every_rank_is_gone_within_the_timeout(tmp_path):
    """SIGSTOP a client host mid-run: its peers give up after runtime.timeout_s, the launcher
    names the stopped rank and stops every rank (the stopped one included) at once."""
    timeout_s, margin_s = 10, 15  # margin: the server may post its receive a round later
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fsl_sage_dist",
            "run",
            f"output.dir={tmp_path}",
            *SMALL,
            "rounds=40",
            f"runtime.timeout_s={timeout_s}",
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **NO_GPU),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        announced = [run_dir / "ranks" / f"rank{r}.json" for r in range(3)]
        # each rank announces itself on its own, so the server may start before a host has
        while not all(p.exists() for p in [run_dir / "metrics.jsonl", *announced]):
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        pids = [
            json.loads((run_dir / "ranks" / f"rank{r}.json").read_text())["pid"] for r in range(3)
        ]
        os.kill(pids[2], signal.SIGSTOP)
        stalled_at = time.monotonic()
        while any(alive(pid) for pid in pids) and time.monotonic() - stalled_at < 120:
            time.sleep(0.1)
        ranks_gone_s = time.monotonic() - stalled_at
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    print(f"every rank gone {ranks_gone_s:.1f} s after the SIGSTOP; stderr:\n{err}")
    assert proc.returncode == 1
    assert not any(alive(pid) for pid in pids), "no rank may remain"
    assert ranks_gone_s < timeout_s + margin_s
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: rank 2 (client host) stopped responding"
    ), lines


def test_a_batch_of_one_never_reaches_batchnorm(tmp_path):
    """ResNet-18 (BatchNorm on both sides of the cut) with clients of 33 samples and batches of
    8: a last batch of one would fail in training ("Expected more than 1 value per channel"),
    so it is left out, not folded into another batch: each client trains on 4 batches of 8."""
    cfg = small_config(
        tmp_path,
        "algorithm=splitfed_v1",
        "model.name=resnet18",
        "rounds=1",
        "clients.num=2",
        "launch.client_hosts=1",
        "data.synthetic_size=[66,8]",
        "data.synthetic_shape=[3,32,32]",
        "train.batch_size=8",
    )
    (result,) = run_in_process(cfg)
    int64 = 8
    assert result["bytes"]["labels"]["up"] == 2 * 4 * 8 * int64, "labels of 2 x 32 samples"
