"""The package's dependency direction (DESIGN.md section 7), read from the import statements.

`cli -> runtime -> algorithms -> {wire, models, data}`; `config`, `metrics`, `checkpoint`,
`seeding`, `threads` are leaves anyone may use. `plan/` (what every rank derives from the config)
sits below all of them and imports only other root leaves; it and `timeline/` never load torch,
so the dry run's facts and the timeline run wherever RUN_DIR is copied to. Each rule below
names the modules that may not import something; the test fails on the first offending line,
with file and line number.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fsl_sage_dist"

# (folder or module of the package, forbidden import prefixes)
RULES = [
    ("algorithms", ("fsl_sage_dist.runtime",)),
    ("wire", ("fsl_sage_dist.algorithms", "fsl_sage_dist.runtime")),
    (
        "models",
        (
            "fsl_sage_dist.wire",
            "fsl_sage_dist.runtime",
            "fsl_sage_dist.algorithms",
            "torch.distributed",
        ),
    ),
    (
        "data",
        (
            "fsl_sage_dist.wire",
            "fsl_sage_dist.runtime",
            "fsl_sage_dist.algorithms",
            "torch.distributed",
        ),
    ),
    ("compare.py", ("torch",)),
    ("run_reader.py", ("torch",)),
    ("compare_plot.py", ("torch",)),
    ("timeline", ("torch",)),
    ("plan", ("torch",)),
    ("message_log.py", ("torch",)),
    ("timeline_command.py", ("torch",)),
]


PLAN_MAY_IMPORT = ("fsl_sage_dist.plan", "fsl_sage_dist.config", "fsl_sage_dist.log")
"""The package modules `plan/` may import: itself and the root leaves below everything."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `path`, relative ones resolved."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _files(target: str) -> list[Path]:
    path = PACKAGE / target
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


@pytest.mark.parametrize("target, forbidden", RULES, ids=[r[0] for r in RULES])
def test_dependency_direction(target, forbidden):
    offences = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in _files(target)
        for line, name in imported_names(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert not offences, "\n".join(offences)


def test_plan_imports_nothing_above_it():
    """Everything reads plan/, so it may lean on nothing that reads it (no cycle, no torch)."""
    offences = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in _files("plan")
        for line, name in imported_names(path)
        if name.startswith("fsl_sage_dist")
        and not any(name == m or name.startswith(m + ".") for m in PLAN_MAY_IMPORT)
    ]
    assert not offences, "\n".join(offences)


def test_plan_and_timeline_load_no_torch():
    """Importing them (and everything they import) must not load torch, which the AST rules
    above cannot see through a leaf that imports it."""
    probe = (
        "import sys, fsl_sage_dist.plan, fsl_sage_dist.timeline; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        check=True,
    ).stdout.strip()
    assert out == "[]"


def test_the_rule_reader_sees_relative_imports():
    """The scan must resolve `from ..runtime import x` inside algorithms/ (else it passes blind)."""
    names = [name for _, name in imported_names(PACKAGE / "algorithms" / "fsl_sage.py")]
    assert "fsl_sage_dist.models.SplitModel" in names  # from ..models import SplitModel
    assert "fsl_sage_dist.algorithms.base.Context" in names  # from .base import Context


def test_cli_and_submit_do_not_import_each_other():
    """The shared part of `run` lives in run_command.py; submit must not reach back into cli."""
    names = [name for _, name in imported_names(PACKAGE / "submit.py")]
    assert not [n for n in names if n.startswith("fsl_sage_dist.cli")], names


def test_compare_starts_without_torch():
    """`fsl-sage compare` goes through the CLI module: loading it must not load torch."""
    probe = "import sys, fsl_sage_dist.cli; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        check=True,
    ).stdout.strip()
    assert out == "False"
