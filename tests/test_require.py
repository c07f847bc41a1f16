"""`availability.require`: without what it asks for, a test (or a whole module) skips, but under
CI=true it fails, so a broken install in CI cannot pass as a row of skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ROOT

# `sys.modules[name] = None` makes `import name` raise ImportError: matplotlib is hidden from
# the module-level require, as if the extra were not installed, while json stays importable.
MODULE_PROBE = """
import sys

sys.modules["matplotlib"] = None

from availability import require

assert require("json", "the standard library") is sys.modules["json"]
require("matplotlib", "the plot extra")


def test_module_level():
    pass
"""

PATH_PROBE = """
from pathlib import Path

from availability import require


def test_present_path():
    assert require(Path("/"), "the root") == Path("/")


def test_absent_path():
    require(Path("/no/such/folder"), "apt-get install something")
"""


# no cache, no plugins, and the path probe still runs after the module probe's collection error
ISOLATED = ("-p", "no:cacheprovider", "--continue-on-collection-errors")


def _pytest(tmp_path: Path, ci: str | None) -> str:
    """Run both probes in a fresh pytest with CI unset or set to `ci`; its summary lines."""
    (tmp_path / "test_module_probe.py").write_text(MODULE_PROBE)
    (tmp_path / "test_path_probe.py").write_text(PATH_PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT)])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", *ISOLATED, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return f"exit status {proc.returncode}\n{proc.stdout}"


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_missing_module_or_path_skips(tmp_path, ci):
    out = _pytest(tmp_path, ci)
    assert out.startswith("exit status 0\n") and "1 passed, 2 skipped" in out, out
    assert "cannot import matplotlib" in out and "(the plot extra)" in out
    assert "/no/such/folder absent (apt-get install something)" in out


def test_under_ci_a_missing_module_or_path_fails(tmp_path):
    out = _pytest(tmp_path, "true")
    assert out.startswith("exit status 1\n"), out
    assert "1 failed, 1 passed" in out and "1 error" in out, out
    assert "CI=true, so this may not be skipped: cannot import matplotlib" in out
    assert "CI=true, so this may not be skipped: /no/such/folder absent" in out
