"""Skips that cannot hide a failure in CI: what a test needs but this machine may lack (an
optional extra, a dataset package, a service) skips it here and fails it under CI=true, where
everything is installed and a skip would only hide a broken install.

Torch-free, so that a module can check what it needs before importing anything heavy.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest


def in_ci() -> bool:
    """CI=true, as `.ci/run` (and most CI services) set it."""
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip (at module level too) for want of something optional; under CI=true fail instead,
    since CI installs everything and a skip there would hide a broken install."""
    if in_ci():
        pytest.fail(f"CI=true, so this may not be skipped: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(what: str | Path, why: str) -> Any:
    """The module named `what`, imported, or the path `what` if it exists; else `unavailable`
    (skip, or fail under CI=true), saying `why` it is needed or how to get it."""
    if isinstance(what, Path):
        if what.exists():
            return what
        unavailable(f"{what} absent ({why})")
    try:
        module: ModuleType = importlib.import_module(what)
    except ImportError as err:
        unavailable(f"cannot import {what}: {err} ({why})")
    return module
