"""The in-process baseline computes exactly what a distributed run computes, and never hangs."""

from __future__ import annotations

import time

import pytest
import torch.nn.functional as F

from fsl_sage_dist.runtime.in_process import run_in_process
from fsl_sage_dist.wire.loopback import Loopback, LoopbackStalled

from harness import read_metrics, small_config, spawn_job, untimed


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["splitfed_v2", "fsl_sage"])
def test_in_process_equals_distributed(tmp_path, algorithm):
    """Whole turns and lockstep-with-alignment: every metrics field but the timings, bitwise,
    in the metrics.jsonl each writes."""
    cfg = small_config(tmp_path, f"algorithm={algorithm}", "launch.client_hosts=1")
    spawn_job(cfg)
    in_process = run_in_process(
        small_config(
            tmp_path, f"algorithm={algorithm}", "launch.client_hosts=1", "output.name=in_process"
        )
    )
    assert untimed(in_process) == untimed(read_metrics(cfg.run_dir))
    assert in_process == read_metrics(tmp_path / "in_process")


def test_waiting_for_a_message_that_never_comes_stops():
    loopback = Loopback(hosts=[1], timeout_s=0.2)
    with loopback.baton, pytest.raises(LoopbackStalled, match="rank 1 waited 0.2 s for rank 0"):
        loopback.take(0, 1)


@pytest.mark.slow
def test_a_failing_role_stops_the_others(tmp_path, monkeypatch):
    """One role raises mid-round; the roles waiting on it are woken at once, not at the timeout."""
    cfg = small_config(tmp_path, "algorithm=cse_fsl", "runtime.timeout_s=600")
    original, calls = F.nll_loss, []

    def fail_fifth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise ValueError("injected")
        return original(*args, **kwargs)

    monkeypatch.setattr(F, "nll_loss", fail_fifth)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="injected"):
        run_in_process(cfg)
    assert time.perf_counter() - start < 60
