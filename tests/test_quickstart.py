"""The quickstart's main job (launch/headline.py), reduced: three real runs, then the table,
the plot and the closing sentence, whose figures must be the table's."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from availability import require
from harness import NO_GPU, ROOT

require("matplotlib", "the `plot` extra draws compare.png")

NAMES = {"fsl_sage": "FSL-SAGE", "cse_fsl": "CSE-FSL", "fedavg": "FedAvg"}
NOT_REACHED = "not reached"  # the table's cell
DID_NOT_REACH = re.compile(r"did not reach|not reached|never reached")  # the sentence's words
MIB = re.compile(r"(\d[\d,]*(?:\.\d+)?) MiB")
RATIO = re.compile(r"(\d+\.\d+)x")


def comparison_table(stdout: str) -> dict[str, dict[str, str]]:
    """The rows `fsl-sage compare` printed, by algorithm: header -> cell."""
    lines = stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("run ") and "MiB@" in ln)
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = {}
    for line in lines[start + 2 :]:  # after the rule
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(header):
            break
        row = dict(zip(header, cells, strict=True))
        rows[row["algorithm"]] = row
    return rows


def _clauses(sentence: str) -> dict[str, list[str]]:
    """What follows each mention of an algorithm, up to the next mention of any."""
    mentions = sorted(
        (m.start(), m.end(), a)
        for a, name in NAMES.items()
        for m in re.finditer(re.escape(name), sentence)
    )
    clauses: dict[str, list[str]] = {a: [] for a in NAMES}
    for (_, end, algorithm), nxt in zip(mentions, [*mentions[1:], (len(sentence),)]):
        clauses[algorithm].append(sentence[end : nxt[0]])
    return clauses


def _close(stated: str, value: float) -> bool:
    """`stated` is `value` rounded to as many decimals as it shows (1e-4 for the table cells'
    own rounding to 0.01 MiB, which a ratio of two cells inherits)."""
    decimals = len(stated.split(".")[1]) if "." in stated else 0
    return abs(float(stated.replace(",", "")) - value) <= 0.5 * 10**-decimals + 1e-4


def check_closing_sentence(rows: dict[str, dict[str, str]], sentence: str) -> None:
    """A closing sentence states a target that is a column of the table; each algorithm's MiB is
    its table cell and it reached the target by the table's best accuracy, or the sentence says
    it did not reach it and the table agrees; each ratio is FSL-SAGE's MiB over the one named."""
    percent = re.search(r"(\d+(?:\.\d+)?)%", sentence)
    assert percent, f"no target in {sentence!r}"
    target = float(percent.group(1)) / 100
    column = f"MiB@{target:g}"
    assert column in rows["fsl_sage"], f"{sentence!r} states a target the table does not have"
    mib = {}
    for algorithm, clauses in _clauses(sentence).items():
        cell, best = rows[algorithm][column], float(rows[algorithm]["best acc"])
        said = next((c for c in clauses if MIB.search(c) or DID_NOT_REACH.search(c)), None)
        assert said is not None, f"{sentence!r} says nothing of {NAMES[algorithm]}"
        if DID_NOT_REACH.search(said):
            assert cell == NOT_REACHED and best < target, (algorithm, cell, best)
            continue
        assert cell != NOT_REACHED and best >= target, f"{NAMES[algorithm]}: {cell}, {best}"
        assert _close(MIB.search(said).group(1), float(cell)), (algorithm, said, cell)
        mib[algorithm] = float(cell)
    for ratio in RATIO.finditer(sentence):
        named = [a for a, n in NAMES.items() if sentence[ratio.end() :].lstrip().startswith(n)]
        candidates = named or [a for a in mib if a != "fsl_sage"]
        assert "fsl_sage" in mib and any(
            _close(ratio.group(1), mib["fsl_sage"] / mib[a]) for a in candidates if a in mib
        ), f"{ratio.group(0)} in {sentence!r} is not FSL-SAGE's MiB over {candidates}'s"


@pytest.mark.slow
def test_headline_prints_the_table_the_plot_and_a_sentence_true_to_it(tmp_path):
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
        env=dict(os.environ, **NO_GPU),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(proc.stdout[-1500:])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for algorithm in NAMES:
        assert (tmp_path / algorithm / "summary.json").exists()
    assert set(comparison_table(proc.stdout)) == set(NAMES)
    assert (tmp_path / "compare.png").stat().st_size > 0
    # one closing sentence per declared target (launch/headline.py TARGETS), reached or not
    rows, closing = comparison_table(proc.stdout), proc.stdout.strip().splitlines()[-2:]
    for line, target in zip(closing, ("75%", "80%"), strict=True):
        assert line.startswith((f"FSL-SAGE reached {target} ", f"FSL-SAGE did not reach {target} "))
        check_closing_sentence(rows, line)
