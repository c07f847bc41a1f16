"""The quickstart's main job (launch/headline.py), reduced: three real runs, then the table,
the plot and the sentence with the measured ratios."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness import ROOT

pytest.importorskip("matplotlib")


@pytest.mark.slow
def test_headline_prints_the_table_the_plot_and_the_ratios(tmp_path):
    args = [
        "data.name=synthetic",
        "rounds=2",
        "clients.num=4",
        "runtime.threads_per_rank=1",
        "fsl.align_epochs=5",
        f"output.dir={tmp_path}",
    ]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch" / "headline.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for algorithm in ("fsl_sage", "cse_fsl", "fedavg"):
        assert (tmp_path / algorithm / "summary.json").exists()
        assert any(line.startswith(algorithm) for line in proc.stdout.splitlines())
    assert (tmp_path / "compare.png").stat().st_size > 0
    # one closing sentence per declared target (launch/headline.py TARGETS), reached or not
    closing = proc.stdout.strip().splitlines()[-2:]
    for line, target in zip(closing, ("75%", "80%"), strict=True):
        assert line.startswith((f"FSL-SAGE reached {target} ", f"FSL-SAGE did not reach {target} "))
        assert "CSE-FSL" in line and "FedAvg" in line
