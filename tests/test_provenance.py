"""Every published figure has a provenance: each docs/*.json carries a "provenance" block with
the command, commit, device, torch, threads and date (or says it was backfilled and lists what
is unknown), and every benchmark that writes a JSON takes that block from
benchmarks/provenance.py."""

from __future__ import annotations

import ast
import datetime
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import ROOT

BENCHMARKS = ROOT / "benchmarks"
if not BENCHMARKS.is_dir():  # benchmarks/mutations.py runs the suite on a copy without them
    pytest.skip("benchmarks/ is not in this tree", allow_module_level=True)
sys.path.insert(0, str(BENCHMARKS))

from provenance import REQUIRED, record  # noqa: E402  (after the path is set)

DOCS_JSON = sorted((ROOT / "docs").glob("*.json"))
# Writes the block from what git and the docs still know instead of calling record().
BACKFILL = "backfill_provenance.py"


def problems(data: Any) -> list[str]:
    """What is wrong with a result file's provenance; [] when it is complete."""
    if not isinstance(data, dict) or not isinstance(data.get("provenance"), dict):
        return ["no 'provenance' block"]
    block = data["provenance"]
    unknown = block.get("unknown", []) if block.get("backfilled") is True else []
    found = []
    if block.get("backfilled") is True and not isinstance(block.get("unknown"), list):
        found.append("backfilled without an 'unknown' list")
    for key in REQUIRED:
        if block.get(key) in (None, "", {}) and key not in unknown:
            found.append(f"{key!r} missing and not listed as unknown")
        if key in unknown and key in block:
            found.append(f"{key!r} both given and listed as unknown")
    if "commit" in block and not re.fullmatch(r"[0-9a-f]{40}", str(block["commit"])):
        found.append(f"commit {block['commit']!r} is not a full git hash")
    if "date" in block:
        try:
            date = datetime.datetime.fromisoformat(block["date"])
        except (TypeError, ValueError):
            found.append(f"date {block['date']!r} is not an ISO date-time")
        else:
            if date.utcoffset() != datetime.timedelta(0):
                found.append(f"date {block['date']!r} is not in UTC")
    if block.get("backfilled") is True and not re.fullmatch(
        r"[0-9a-f]{40}", str(block.get("file_commit"))
    ):
        found.append("backfilled without the commit that wrote the file")
    return found


def test_the_docs_have_result_files():
    assert len(DOCS_JSON) >= 10, DOCS_JSON


@pytest.mark.parametrize("path", DOCS_JSON, ids=lambda p: p.name)
def test_every_result_file_has_a_provenance(path):
    assert problems(json.loads(path.read_text())) == []


@pytest.mark.parametrize("path", DOCS_JSON, ids=lambda p: p.name)
def test_no_result_file_names_a_path_outside_the_repository_as_its_input(path):
    data = json.loads(path.read_text())
    for key in ("config", "recorded"):
        assert not str(data.get(key, "")).startswith(("/", "..")), (key, data[key])


def test_the_check_rejects_a_file_without_or_with_half_a_provenance():
    assert problems({"rounds": 3}) == ["no 'provenance' block"]
    complete = record()
    assert problems({"provenance": complete}) == []
    assert problems({"provenance": {k: v for k, v in complete.items() if k != "torch"}}) == [
        "'torch' missing and not listed as unknown"
    ]
    device = {"description": "the 2-core machine"}
    backfilled = {"backfilled": True, "file_commit": complete["commit"], "device": device}
    assert "'commit' missing and not listed as unknown" in problems({"provenance": backfilled})
    backfilled["unknown"] = [k for k in REQUIRED if k != "device"]
    assert problems({"provenance": backfilled}) == []
    backfilled["unknown"].append("device")
    assert problems({"provenance": backfilled}) == ["'device' both given and listed as unknown"]


def test_a_record_says_which_code_ran_where_and_when():
    got = record(threads_per_rank=1)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert got["commit"] == head
    assert isinstance(got["dirty"], bool) and got["dirty"] == bool(got["dirty_files"])
    assert got["command"].split()[0] == sys.executable
    assert got["device"]["cpu_cores"] >= 1 and isinstance(got["device"]["gpus"], list)
    assert got["threads"]["threads_per_rank"] == 1
    assert got["torch"] == __import__("torch").__version__
    age = datetime.datetime.now(datetime.UTC) - datetime.datetime.fromisoformat(got["date"])
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=5)


def test_the_command_can_be_typed_again_from_its_directory(monkeypatch):
    """Paths inside the working directory become relative to it; one outside stays as it was."""
    monkeypatch.chdir(ROOT)
    argv = ["benchmarks/x.py", f"--json={ROOT}/docs/x.json", f"output.dir={ROOT}/runs", "/tmp/y"]
    monkeypatch.setattr(sys, "argv", argv)
    got = record()
    want = ["benchmarks/x.py", "--json=docs/x.json", "output.dir=runs", "/tmp/y"]
    assert got["command"].split() == [sys.executable, *want]
    assert got["cwd"] == "."


def _writes_json(tree: ast.Module) -> bool:
    """A call of write_json / write_atomic, or .write_text(json.dumps(...)), anywhere."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("write_json", "write_atomic"):
                return True
            if name == "write_text" and "json.dumps" in ast.unparse(node):
                return True
    return False


def _takes_its_provenance_from_record(tree: ast.Module) -> bool:
    imported = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "provenance"
        and any(alias.name == "record" for alias in node.names)
        for node in ast.walk(tree)
    )
    called = any(
        isinstance(node, ast.Call) and getattr(node.func, "id", None) == "record"
        for node in ast.walk(tree)
    )
    keyed = any(
        isinstance(node, ast.Constant) and node.value == "provenance" for node in ast.walk(tree)
    )
    return imported and called and keyed


def writers() -> list[Path]:
    scripts = sorted(p for p in BENCHMARKS.glob("*.py") if p.name != BACKFILL)
    return [p for p in scripts if _writes_json(ast.parse(p.read_text()))]


def test_every_benchmark_that_writes_a_json_records_its_provenance():
    found = writers()
    # the scripts that write docs/*.json today; a new one is found by the same search
    assert {p.stem for p in found} >= {
        "bytes_to_accuracy",
        "time_to_accuracy",
        "scale",
        "round_time",
        "averaging_modes",
        "async_align",
        "llm_bytes",
        "wire_framing",
        "synthetic_difficulty",
        "mutations",
    }
    missing = [
        p.name for p in found if not _takes_its_provenance_from_record(ast.parse(p.read_text()))
    ]
    assert missing == []


def test_the_static_check_sees_a_writer_without_a_provenance():
    bare = ast.parse("from x import write_json\nwrite_json(p, {'rounds': 3})\n")
    assert _writes_json(bare) and not _takes_its_provenance_from_record(bare)
    text = "Path(p).write_text(json.dumps(report))\n"
    assert _writes_json(ast.parse(text))
    good = ast.parse(
        "from provenance import record\nwrite_json(p, {'provenance': record(), 'rounds': 3})\n"
    )
    assert _takes_its_provenance_from_record(good)


@pytest.mark.parametrize("path", DOCS_JSON, ids=lambda p: p.name)
def test_a_target_taken_from_the_results_is_labelled_as_such(path):
    """MiB to CSE-FSL's best accuracy measures to a bar the runs set; the file must say so."""
    data = json.loads(path.read_text())
    if "to_cse_fsl_best_acc" in json.dumps(data):
        assert "comparisons.to_cse_fsl_best_acc" in data.get("realised_targets", {})
