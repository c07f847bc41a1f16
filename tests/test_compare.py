"""`fsl-sage compare` on RUN_DIRs written here by hand (no job runs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fsl_sage_dist.cli import main

from availability import require
from harness import ROOT

MIB = 2**20


def write_run(
    root: Path,
    name: str,
    algorithm: str,
    accs: list[float | None],
    mib_per_round: float,
    planned_rounds: int | None = None,
    client_peaks_mib: list[float] | None = None,
) -> Path:
    """A RUN_DIR with the contract files: config.toml, metrics.jsonl, summary.json."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    planned = planned_rounds or len(accs)
    (run_dir / "config.toml").write_text(f'algorithm = "{algorithm}"\nrounds = {planned}\n')
    per_round = int(mib_per_round * MIB)
    zero = {"up": 0, "down": 0}
    lines = []
    for r, acc in enumerate(accs):
        memory = {}
        if client_peaks_mib is not None:
            memory = {"memory": {"client_peak_bytes": int(client_peaks_mib[r] * MIB)}}
        lines.append(
            json.dumps(
                memory
                | {
                    "round": r,
                    "algorithm": algorithm,
                    "test_acc": acc,
                    "test_loss": None if acc is None else 1 - acc,
                    "train_loss": 1.0,
                    "round_s": 1.5 + r,
                    "bytes": {
                        "activations": {"up": per_round, "down": 0},
                        "labels": zero,
                        "control": zero,
                    },
                    "round_payload_bytes": per_round,
                    "round_wire_bytes": per_round,
                    "cum_payload_bytes": per_round * (r + 1),
                    "cum_wire_bytes": per_round * (r + 1),
                }
            )
        )
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (run_dir / "summary.json").write_text(json.dumps({"algorithm": algorithm}))
    return run_dir


@pytest.fixture
def runs(tmp_path) -> tuple[Path, Path]:
    # base reaches 0.80 after 2 rounds (20 MiB) and 0.85 after 3 (30 MiB), exactly: >= counts.
    base = write_run(tmp_path, "base", "fedavg", [0.5, 0.8, 0.85, 0.87], 10)
    # sage reaches 0.80 in round 1 (2 MiB), never 0.85; round 2 is not evaluated; 4 of 6 rounds.
    # Only sage has memory accounting (base is a run from before the meter): its largest peak.
    sage = write_run(
        tmp_path,
        "sage",
        "fsl_sage",
        [0.81, None, 0.84, 0.845],
        2,
        planned_rounds=6,
        client_peaks_mib=[1.5, 3.25, 2.0, 3.0],
    )
    return base, sage


def table_rows(stdout: str) -> dict[str, dict[str, str]]:
    """The printed table as {run: {column: cell}}; columns are 2+ spaces apart."""
    lines = stdout.splitlines()
    header = re.split(r"\s{2,}", lines[0])
    rows = {}
    for line in lines[2:]:
        cells = re.split(r"\s{2,}", line)
        if len(cells) == len(header):
            rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def test_table_and_json_give_mib_to_target(runs, tmp_path, capsys):
    out_json = tmp_path / "cmp.json"
    assert main(["compare", *map(str, runs), "--json", str(out_json)]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows["base"] == {
        "run": "base",
        "algorithm": "fedavg",
        "rounds": "4/4",
        "final acc": "0.8700",
        "best acc": "0.8700",
        "payload MiB": "40.00",
        "client peak MiB": "-",
        "MiB@0.8": "20.00",
        "MiB@0.85": "30.00",
        "s/round": "3.00",
        "ratio@0.8": "1.00",
        "ratio@0.85": "1.00",
    }
    assert rows["sage"] == {
        "run": "sage",
        "algorithm": "fsl_sage",
        "rounds": "4/6",
        "final acc": "0.8450",
        "best acc": "0.8450",
        "payload MiB": "8.00",
        "client peak MiB": "3.25",
        "MiB@0.8": "2.00",
        "MiB@0.85": "not reached",
        "s/round": "3.00",
        "ratio@0.8": "0.10",
        "ratio@0.85": "-",
    }
    data = json.loads(out_json.read_text())
    assert data["baseline"] == "base" and data["targets"] == [0.8, 0.85]
    sage = data["runs"][1]
    assert sage["mib_to_target"] == {"0.8": 2.0, "0.85": None}
    assert sage["client_peak_mib"] == 3.25 and data["runs"][0]["client_peak_mib"] is None
    assert sage["ratio_to_baseline"] == {"0.8": pytest.approx(0.1), "0.85": None}


@pytest.mark.parametrize("baseline", ["sage", "1"])
def test_baseline_by_name_or_index(runs, capsys, baseline):
    assert main(["compare", *map(str, runs), "--baseline", baseline, "--target-acc", "0.8"]) == 0
    out = capsys.readouterr().out
    assert table_rows(out)["base"]["ratio@0.8"] == "10.00"
    assert "baseline run sage" in out


def test_bad_baseline_and_bad_target_are_refused(runs, capsys):
    assert main(["compare", *map(str, runs), "--baseline", "7"]) == 2
    assert "--baseline '7'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", *map(str, runs), "--target-acc", "85"])
    assert "0.85 for 85%" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line2, problem",
    [
        ('{"round": 1, "algorithm": "fedavg", "test_ac', "line 2: not valid JSON"),
        (
            '{"round": 2, "algorithm": "fedavg", "test_acc": 0.9, "cum_payload_bytes": 3, '
            '"round_s": 1.0}',
            "line 2: round 2 where round 1 was expected",
        ),
        (
            '{"round": 1, "algorithm": "fedavg", "test_acc": 0.9, "round_s": 1.0}',
            "line 2: key 'cum_payload_bytes' missing",
        ),
    ],
    ids=["not_json", "round_out_of_sequence", "key_missing"],
)
def test_bad_metrics_line_names_file_and_line_and_others_are_reported(
    runs, tmp_path, capsys, line2, problem
):
    broken = write_run(tmp_path, "broken", "fedavg", [0.9, 0.9, 0.9], 1)
    lines = (broken / "metrics.jsonl").read_text().splitlines()
    lines[1] = line2
    (broken / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["compare", str(runs[0]), str(broken), str(runs[1])]) == 1
    captured = capsys.readouterr()
    assert f"skipping run broken: {broken / 'metrics.jsonl'}, {problem}" in captured.err
    assert set(table_rows(captured.out)) == {"base", "sage"}


def test_missing_metrics_file_is_reported(runs, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), *map(str, runs)]) == 1
    captured = capsys.readouterr()
    assert f"{tmp_path / 'empty' / 'metrics.jsonl'}: missing" in captured.err
    # The baseline (the first RUN_DIR) was skipped: no ratios, the rest still reported.
    assert "no ratios" in captured.out and set(table_rows(captured.out)) == {"base", "sage"}


def test_plot_writes_a_png(runs, tmp_path, capsys):
    require("matplotlib", "--plot needs the optional extra 'plot'")
    png = tmp_path / "cmp.png"
    assert main(["compare", *map(str, runs), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plot_without_matplotlib_says_how_to_install(runs, tmp_path, capsys, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail
    assert main(["compare", *map(str, runs), "--plot", str(tmp_path / "cmp.png")]) == 1
    captured = capsys.readouterr()
    assert "pip install 'fsl-sage-dist[plot]'" in captured.err
    assert set(table_rows(captured.out)) == {"base", "sage"}
    assert not (tmp_path / "cmp.png").exists()


def test_compare_imports_nothing_of_torch():
    code = (
        "import sys, fsl_sage_dist.compare; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]"
