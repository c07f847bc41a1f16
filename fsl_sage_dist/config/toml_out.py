"""A resolved config as TOML text (`Config.to_toml()`), read back by `load_config` unchanged."""

from __future__ import annotations

import dataclasses
from typing import Any


def has_control_chars(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config as nested plain dicts (for JSON: the launcher's hand-off, the manifest)."""
    return dataclasses.asdict(cfg)


def to_toml(data: dict[str, Any]) -> str:
    """Serialise a config dict (scalars, lists of scalars, nested tables) as TOML."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        # TOML strings may not hold control characters raw
        return (
            '"' + "".join(f"\\u{ord(c):04x}" if has_control_chars(c) else c for c in escaped) + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
