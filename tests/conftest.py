"""Fixtures shared by several test modules (plain helpers live in harness.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_spawn(monkeypatch):
    """Any attempt to start ranks fails the test: what is refused must be refused before."""
    from fsl_sage_dist.runtime import launcher

    def refuse(*args, **kwargs):
        raise AssertionError("ranks were about to be spawned: the input was not refused")

    monkeypatch.setattr(launcher, "launch_local", refuse)
