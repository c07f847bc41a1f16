"""`fsl-sage compare` and the run reader on damaged or odd RUN_DIRs (no job runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fsl_sage_dist.cli import main


def _run_dir(root: Path, name: str, accs: list[float], dataset: str = "synthetic") -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text(f'rounds = {len(accs)}\n[data]\nname = "{dataset}"\n')
    lines = [
        json.dumps(
            {
                "round": r,
                "algorithm": "fedavg",
                "test_acc": acc,
                "round_s": 1.0,
                "cum_payload_bytes": 2**20 * (r + 1),
                "cum_wire_bytes": 2**20 * (r + 1),
            }
        )
        for r, acc in enumerate(accs)
    ]
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return run_dir


def _compare(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_partial_last_line_is_skipped_with_a_warning(tmp_path, capsys):
    run = _run_dir(tmp_path, "a", [0.5, 0.6])
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"round": 2, "algorithm": "fed')
    status, out, err = _compare(capsys, run)
    assert status == 0
    assert "line 3: incomplete last line" in err
    assert "2/2" in out and "0.6000" in out


def test_nan_accuracy_is_shown_as_missing(tmp_path, capsys):
    run = _run_dir(tmp_path, "a", [0.5, 0.6])
    text = (run / "metrics.jsonl").read_text().replace('"test_acc": 0.6', '"test_acc": NaN')
    (run / "metrics.jsonl").write_text(text)
    status, out, err = _compare(capsys, run, "--json", tmp_path / "out.json")
    assert status == 0 and "test_acc is nan; shown as missing" in err
    row = json.loads((tmp_path / "out.json").read_text())["runs"][0]
    assert row["final_acc"] == 0.5 and row["best_acc"] == 0.5
    assert "nan" not in out.lower()


def test_non_utf8_config_and_deeply_nested_line(tmp_path, capsys):
    good = _run_dir(tmp_path, "good", [0.5])
    (good / "config.toml").write_bytes(b'rounds = 1\nname = "\xff\xfe"\n')
    nested = _run_dir(tmp_path, "nested", [0.5])
    (nested / "metrics.jsonl").write_text("[" * 100000 + "]" * 100000 + "\n")
    status, out, err = _compare(capsys, good, nested)
    assert status == 1, "one run skipped"
    assert "config.toml: not UTF-8 text" in err
    assert "metrics.jsonl, line 1: not valid JSON (nested too deeply)" in err
    assert "good" in out


def test_json_output_onto_a_folder_is_a_clear_error_without_temp_file(tmp_path, capsys):
    run = _run_dir(tmp_path, "a", [0.5])
    target = tmp_path / "out"
    target.mkdir()
    status, _, err = _compare(capsys, run, "--json", target)
    assert status == 1
    assert err.strip().splitlines()[-1] == f"error: is a directory: {target}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "out"]


def test_runs_of_different_datasets_are_flagged(tmp_path, capsys):
    a = _run_dir(tmp_path, "a", [0.5])
    b = _run_dir(tmp_path, "b", [0.5], dataset="cifar10")
    status, _, err = _compare(capsys, a, b)
    assert status == 0
    assert "different datasets (a: synthetic, b: cifar10)" in err
    _, _, err = _compare(capsys, a, _run_dir(tmp_path, "c", [0.6]))
    assert "different datasets" not in err


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"round": 0, "test_acc": 0.5', "not valid JSON"),
        (
            (
                '{"round": 1, "algorithm": "fedavg", "test_acc": 0.5, "round_s": 1.0, '
                '"cum_payload_bytes": 1}'
            ),
            "round 1 where round 0 was expected",
        ),
    ],
)
def test_corrupt_line_inside_metrics_names_file_and_line(tmp_path, capsys, line, problem):
    run = _run_dir(tmp_path, "a", [0.5, 0.6])
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join([line, lines[1]]) + "\n")
    status, _, err = _compare(capsys, run)
    assert status == 2
    assert f"{run / 'metrics.jsonl'}, line 1: {problem}" in err
