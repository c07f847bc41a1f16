"""One style, enforced: `ruff check` (pyflakes, pycodestyle, sorted absolute imports) and
`ruff format --check` over the package, tests, benchmarks and launch scripts. To fix a failure:
`.venv/bin/ruff format fsl_sage_dist tests benchmarks launch` and
`.venv/bin/ruff check --fix fsl_sage_dist tests benchmarks launch`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ["fsl_sage_dist", "tests", "benchmarks", "launch"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *TREES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
