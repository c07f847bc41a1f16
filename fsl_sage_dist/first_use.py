"""A package's names imported on first use (PEP 562), for the packages whose torch-free modules
the config must read (`models/defaults.py`, `wire/limits.py`): importing `fsl_sage_dist.models`
then loads no torch until a torch-bound name is asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def names_on_first_use(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """The package's `__getattr__`: `homes` maps each public name to its module in `package`.
    A name is imported once and then cached in the package's namespace."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        namespace[name] = value
        return value

    return __getattr__
