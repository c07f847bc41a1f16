"""The message log of real multi-process runs: its bytes are the meter's, its iterations are the
schedule's, and replaying it after the fact gives the simulated times the run wrote itself."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from fsl_sage_dist.cli import main
from fsl_sage_dist.config import load_config
from fsl_sage_dist.plan import Plan
from fsl_sage_dist.run_reader import read_config
from fsl_sage_dist.rundir.messages import read_messages
from fsl_sage_dist.timeline import replay
from fsl_sage_dist.units import NO_ITERATION

from harness import read_metrics, small_config, spawn_job

PROFILE = ("network.up_mbps=5", "network.down_mbps=20", "network.rtt_ms=30", "network.spread=0.5")
CASES = {
    "fedavg": (),
    "splitfed_v1": (),
    "splitfed_v2": (),
    "cse_fsl": (),
    "fsl_sage": (),
    "fsl_sage_async": ("fsl.async_align=true",),
    "cse_fsl_reduce": ("runtime.averaging=reduce",),
}
Q = 2


@pytest.fixture(scope="module", params=list(CASES))
def run(request, tmp_path_factory):
    """Two rounds, 4 clients on 2 hosts (co-hosted clients in lockstep); FSL-SAGE aligns in
    round 0 only (l = 2)."""
    tmp = tmp_path_factory.mktemp(request.param)
    algorithm = request.param.removesuffix("_async").removesuffix("_reduce")
    cfg = small_config(
        tmp,
        f"algorithm={algorithm}",
        "fsl.align_interval=2",
        f"fsl.server_interval={Q}",
        *PROFILE,
        *CASES[request.param],
    )
    spawn_job(cfg)
    return request.param, cfg


@pytest.mark.slow
def test_log_bytes_equal_the_meter_per_round_and_category(run):
    _, cfg = run
    records, logs = read_metrics(cfg.run_dir), read_messages(cfg.run_dir)
    assert [log.round for log in logs] == [r["round"] for r in records] == [0, 1]
    for record, log in zip(records, logs):
        summed = Counter()
        for m in log.messages:
            summed[m.category, m.direction] += m.nbytes
        metered = {(cat, d): n for cat, by in record["bytes"].items() for d, n in by.items() if n}
        assert dict(summed) == metered, record["round"]


@pytest.mark.slow
def test_log_iterations_are_the_schedule(run):
    """Uploads at the schedule's iterations, each SplitFed cut gradient at its upload's, the
    aux head at it = 0 (synchronous) or the round end (asynchronous), states at the round end;
    compute times for every iteration of every client, server steps for every upload."""
    case, cfg = run
    algorithm = cfg.algorithm
    iters = 480 // 4 // 32 + 1  # 120 samples per client in batches of 32
    every = {"fedavg": None, "splitfed_v1": 1, "splitfed_v2": 1, "cse_fsl": Q, "fsl_sage": Q}
    for log in read_messages(cfg.run_dir):
        assert sorted(log.client_s) == [(c, it) for c in range(4) for it in range(iters)]
        assert all(f > 0 and u > 0 for f, u in log.client_s.values())
        places = {(m.category, m.direction): set() for m in log.messages}
        for m in log.messages:
            places[m.category, m.direction].add(m.iteration)
        uploads = (
            {it for it in range(iters) if it % every[algorithm] == 0} if every[algorithm] else set()
        )
        assert places.get(("activations", "up"), set()) == uploads
        assert sorted(log.server_step_s) == sorted((c, it) for c in range(4) for it in uploads)
        if algorithm.startswith("splitfed"):
            assert places["cut_grads", "down"] == uploads
        assert places["client_model", "up"] == places["client_model", "down"] == {NO_ITERATION}
        aux_down = places.get(("aux_model", "down"))
        if algorithm == "fsl_sage":
            aligned = log.round == 0
            assert sorted(log.align_s) == ([0, 1, 2, 3] if aligned else [])
            assert aux_down == (
                {NO_ITERATION if case.endswith("async") else 0} if aligned else None
            )
        assert log.eval_s is not None and log.eval_s > 0


@pytest.mark.slow
def test_replay_after_the_fact_gives_the_runs_simulated_times(run, tmp_path, capsys):
    _, cfg = run
    records = read_metrics(cfg.run_dir)
    config = read_config(cfg.run_dir, [])
    net = load_config(None, list(PROFILE)).network
    times = replay(Plan.of_dict(config), read_messages(cfg.run_dir), net)
    assert [t.seconds for t in times] == [r["sim_round_s"] for r in records]
    assert records[-1]["cum_sim_s"] == pytest.approx(sum(t.seconds for t in times), rel=1e-12)
    assert all(t.seconds > 0 for t in times)
    out = tmp_path / "t.json"
    assert main(["timeline", str(cfg.run_dir), "--json", str(out)]) == 0
    row = json.loads(out.read_text())["runs"][0]
    assert row["sim_s_per_round"] == pytest.approx(records[-1]["cum_sim_s"] / 2, rel=1e-12)


@pytest.mark.slow
def test_resume_keeps_one_log_line_per_round(tmp_path):
    """A line past the checkpoint (a crash after the append) is dropped on resume, as in
    metrics.jsonl, and the simulated time goes on from the kept rounds."""
    common = ["algorithm=cse_fsl", "checkpoint.every=1", "output.name=run", *PROFILE]
    spawn_job(small_config(tmp_path, *common, "rounds=2"))
    with (tmp_path / "run" / "messages.jsonl").open("a") as log:
        log.write('{"round": 2}\n')
    resumed = small_config(tmp_path, *common, "rounds=3")
    spawn_job(resumed)
    assert [log.round for log in read_messages(resumed.run_dir)] == [0, 1, 2]
    records = read_metrics(resumed.run_dir)
    assert records[2]["cum_sim_s"] == pytest.approx(
        sum(r["sim_round_s"] for r in records), rel=1e-12
    )
