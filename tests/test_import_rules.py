"""The package's dependency direction (DESIGN.md section 7), read from the import statements.

`cli -> runtime -> algorithms -> {wire, models, data}`; `config`, `checkpoint`, `seeding`,
`threads` are leaves anyone may use. `plan/` (what every rank derives from the config) sits below
all of them and imports only other root leaves; RUN_DIR's formats (`rundir/`) sit below both
rank 0's writers (`report/`, which may use them) and the readers. `plan/`, `rundir/` and
`timeline/` never load torch, so the dry run's facts, the readers and the timeline run wherever
RUN_DIR is copied to. Each rule below names the modules that may not import something; the test
fails on the first offending line, with file and line number.

The ground floor (LEAVES) is stated the other way round: what a leaf may import of the package
at all, so a new import there is a decision, not an accident.
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
    (
        "memory",
        (
            "fsl_sage_dist.algorithms",
            "fsl_sage_dist.runtime",
            "fsl_sage_dist.wire",
            "torch.distributed",
        ),
    ),
    ("rundir", ("torch", "numpy")),
    ("report", ("fsl_sage_dist.runtime", "fsl_sage_dist.algorithms", "fsl_sage_dist.wire")),
    ("compare.py", ("torch",)),
    ("run_reader.py", ("torch",)),
    ("compare_plot.py", ("torch",)),
    ("timeline", ("torch",)),
    ("plan", ("torch",)),
    ("timeline_command.py", ("torch",)),
    ("config", ("torch",)),
    ("devices.py", ("torch.distributed",)),
    ("threads.py", ("torch.distributed",)),
]

# (root leaf, the only modules of the package it may import)
LEAVES = [
    ("errors.py", ()),
    ("units.py", ()),
    ("log.py", ()),
    ("seeding.py", ("fsl_sage_dist.plan.seeds",)),  # torch generators from the same seeds
    ("threads.py", ()),
    ("first_use.py", ()),
    ("atomic_write.py", ("fsl_sage_dist.errors",)),
    ("devices.py", ("fsl_sage_dist.errors",)),
    # the config reads the torch-free limits its components declare
    (
        "config",
        (
            "fsl_sage_dist.config",
            "fsl_sage_dist.errors",
            "fsl_sage_dist.models.defaults",
            "fsl_sage_dist.wire.limits",
        ),
    ),
    ("models/defaults.py", ()),
    ("wire/limits.py", ()),
    # everything reads plan/, so it may lean on nothing that reads it (no cycle, no torch)
    ("plan", ("fsl_sage_dist.plan", "fsl_sage_dist.config", "fsl_sage_dist.log")),
    # RUN_DIR's formats, below both rank 0's writers and the readers
    ("rundir", ("fsl_sage_dist.rundir", "fsl_sage_dist.atomic_write", "fsl_sage_dist.units")),
]


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


@pytest.mark.parametrize("target, allowed", LEAVES, ids=[r[0] for r in LEAVES])
def test_root_leaves_import_nothing_above_them(target, allowed):
    offences = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in _files(target)
        for line, name in imported_names(path)
        if name.startswith("fsl_sage_dist.")
        and not any(name == a or name.startswith(a + ".") for a in allowed)
    ]
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize(
    "statement",
    [
        # compare, the timeline and every other reader of config.toml build a Config
        "from fsl_sage_dist.config import load_config; load_config()",
        # the dry run's facts and the simulated replay run wherever RUN_DIR is copied
        "import fsl_sage_dist.plan, fsl_sage_dist.timeline",
        # what reads a RUN_DIR copied anywhere: the formats and compare's reader
        "import fsl_sage_dist.rundir.records, fsl_sage_dist.rundir.messages, "
        "fsl_sage_dist.rundir.layout, fsl_sage_dist.run_reader",
        # `fsl-sage compare` goes through the CLI module
        "import fsl_sage_dist.cli",
    ],
    ids=["config", "plan-timeline", "readers", "compare"],
)
def test_torch_free_layers_load_no_torch(statement):
    """Running `statement` (and everything it imports) must not load torch, which the AST
    rules above cannot see through a leaf that imports it."""
    probe = (
        f"import sys; {statement}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
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
