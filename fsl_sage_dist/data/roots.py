"""Where datasets live when the config gives no `data.root`."""

from __future__ import annotations

from pathlib import Path


def default_data_root() -> Path:
    # Expanded per call (not at import) so a changed HOME, e.g. in tests, is honoured.
    return Path("~/.cache/fsl-sage/data").expanduser()


def resolve_root(root: str | Path) -> Path:
    """An explicit root as given (user-expanded), or the default cache folder when empty."""
    return Path(root).expanduser() if str(root) else default_data_root()
