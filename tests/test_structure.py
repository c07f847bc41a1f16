"""Two structural rules read from the source: no module of the package grows past 400 lines
(nanoGPT's top-to-bottom files stay readable in one sitting), and no module outside
`algorithms/` and `plan/` decides anything by an algorithm's name: it reads `SPECS[name]`, so a
sixth algorithm or a changed schedule is one entry in `plan/spec.py`, not four edits."""

from __future__ import annotations

import ast
from pathlib import Path

from fsl_sage_dist.plan import SPECS

PACKAGE = Path(__file__).resolve().parent.parent / "fsl_sage_dist"
MAX_LINES = 400
NAME_OWNERS = ("algorithms", "plan")
"""The folders that may compare algorithm names: the classes and the specs themselves."""


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_the_line_limit():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"


def _names_in(node: ast.AST) -> set[str]:
    """Algorithm names spelled as string constants in `node` (a tuple, list or set of them too)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & SPECS.keys()
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_names_in(e) for e in node.elts)) if node.elts else set()
    return set()


def name_comparisons(path: Path, root: Path = PACKAGE) -> list[str]:
    """`x == "fsl_sage"`, `x in ("cse_fsl", ...)`, `x.startswith("splitfed")` and the like."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Compare):
            names = set().union(*(_names_in(n) for n in [node.left, *node.comparators]))
            if names:
                found.append(f"{path.relative_to(root)}:{node.lineno} compares {sorted(names)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("startswith", "endswith")
            and any(
                isinstance(a, ast.Constant)
                and isinstance(a.value, str)
                and any(n.startswith(a.value) for n in SPECS)
                and a.value
                for a in node.args
            )
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno} matches a name's prefix")
    return found


def test_only_algorithms_and_plan_compare_algorithm_names():
    offences = [
        line
        for path in _modules()
        if path.relative_to(PACKAGE).parts[0] not in NAME_OWNERS
        for line in name_comparisons(path)
    ]
    assert not offences, "\n".join(offences)


def test_the_scan_sees_each_form(tmp_path):
    """Else the rule above passes blind."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        'a = algorithm == "fsl_sage"\n'
        'b = algorithm in ("cse_fsl", "fedavg")\n'
        'c = name.startswith("splitfed")\n'
        'd = algorithm == "resnet18"\n'
    )
    found = [line.split(":", 1)[1] for line in name_comparisons(probe, tmp_path)]
    assert [f.split(" ", 1)[0] for f in found] == ["1", "2", "3"], found
