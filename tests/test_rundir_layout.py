"""RUN_DIR's names are spelled once, in `rundir/layout.py`: a module that needs a file of the run
joins the constant, so renaming a file (or finding every writer and reader of it) is one place."""

from __future__ import annotations

import ast
from pathlib import Path

from fsl_sage_dist.rundir import layout

PACKAGE = Path(__file__).resolve().parent.parent / "fsl_sage_dist"
NOT_YET = {PACKAGE / "timeline_command.py"}
"""Modules still spelling a name, until they move (`fsl-sage timeline` joins "metrics.jsonl")."""
NAMES = {value for key, value in vars(layout).items() if key.isupper() and isinstance(value, str)}


def test_layout_names_every_file_of_the_contract():
    """DESIGN.md section 6's files and folders, as a reader would list them."""
    assert NAMES >= {
        "config.toml",
        "partition.json",
        "metrics.jsonl",
        "messages.jsonl",
        "summary.json",
        "final_model.pt",
        "tb",
        "checkpoints",
    }
    assert layout.JSON_LINES == (layout.METRICS, layout.MESSAGES)


def test_no_module_spells_a_run_dir_name_as_a_literal():
    """String constants equal to a name (docstrings and messages that mention one are prose,
    and differ from it)."""
    offences = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.value!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "rundir" / "layout.py" and path not in NOT_YET
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant) and node.value in NAMES
    ]
    assert not offences, "\n".join(offences)
