"""A benchmark never republishes an existing run silently: without --reuse a run folder that
already holds a run stops it with a message that says how to go on; with --reuse the run is read
(finished) or continued (interrupted) and listed for the JSON's provenance."""

from __future__ import annotations

import argparse
import json
import sys

import pytest

from harness import ROOT

BENCHMARKS = ROOT / "benchmarks"
if not BENCHMARKS.is_dir():  # benchmarks/mutations.py runs the suite on a copy without them
    pytest.skip("benchmarks/ is not in this tree", allow_module_level=True)
sys.path.insert(0, str(BENCHMARKS))

import bytes_to_accuracy  # noqa: E402  (after the path is set)
from run_folders import claim  # noqa: E402


def fake_run(run_dir, rounds, summary=True):
    run_dir.mkdir(parents=True)
    lines = [json.dumps({"round": r}) for r in range(rounds)]
    (run_dir / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))
    if summary:
        (run_dir / "summary.json").write_text("{}")


def test_a_missing_or_empty_folder_is_started(tmp_path):
    reused = []
    assert claim(tmp_path / "none", 3, False, reused) is False
    (tmp_path / "empty").mkdir()
    assert claim(tmp_path / "empty", 3, False, reused) is False
    assert reused == []


@pytest.mark.parametrize("rounds_there, summary", [(3, True), (1, False)])
def test_an_existing_run_without_reuse_is_an_error_that_says_how_to_go_on(
    tmp_path, rounds_there, summary
):
    fake_run(tmp_path / "run", rounds_there, summary)
    with pytest.raises(SystemExit) as err:
        claim(tmp_path / "run", 3, False, [])
    message = str(err.value)
    assert str(tmp_path / "run") in message and f"{rounds_there} of 3 rounds" in message
    assert "--reuse" in message and "another --out" in message


def test_with_reuse_a_finished_run_is_read_and_listed(tmp_path):
    fake_run(tmp_path / "done", 3)
    fake_run(tmp_path / "half", 1, summary=False)
    reused = []
    assert claim(tmp_path / "done", 3, True, reused) is True
    assert claim(tmp_path / "half", 3, True, reused) is False  # continued from its checkpoint
    assert [(r["rounds_found"], r["finished"]) for r in reused] == [(3, True), (1, False)]
    assert all(r["run"].endswith(name) for r, name in zip(reused, ("done", "half"), strict=True))
    assert all(r["last_round_written"] for r in reused)


def _args(tmp_path, reuse):
    return argparse.Namespace(
        out=tmp_path,
        rounds=3,
        train_limit=0,
        hosts=2,
        jobs=1,
        set=[],
        model="simple_conv",
        reuse=reuse,
    )


def test_bytes_to_accuracy_stops_at_a_finished_run_unless_asked_to_reuse_it(tmp_path):
    fake_run(tmp_path / "fedavg", 3)
    with pytest.raises(SystemExit, match="--reuse"):
        bytes_to_accuracy.plan_run("fedavg", _args(tmp_path, False), [])
    reused = []
    run_dir, cmd = bytes_to_accuracy.plan_run("fedavg", _args(tmp_path, True), reused)
    assert (run_dir, cmd) == (tmp_path / "fedavg", None)
    assert len(reused) == 1 and reused[0]["finished"]
    run_dir, cmd = bytes_to_accuracy.plan_run("cse_fsl", _args(tmp_path, False), [])
    assert cmd is not None and f"output.dir={tmp_path}" in cmd
