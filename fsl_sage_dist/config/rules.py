"""The rules a config value must follow, declared next to its field and checked in one loop.

    num: int = bounded(10, at_least(1))
    per_round: int = bounded(0, within(0, "num", "0 (all) or 1..clients.num={high}"))

A rule knows what it accepts, how to say so ("an integer >= 1") and which values it refuses
(`bad`), so tests/test_config_bounds.py can generate one case per bounded field from this
metadata alone. Each section's `__post_init__` (`Section`) runs `check_fields`: every failure is
one `ConfigError` line that names the key, the value and what was expected. Rules across
sections (hosts <= clients) are a section's `check`, one `check(...)` line each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from fsl_sage_dist.errors import ConfigError

RULES = "rules"
"""The key of a field's metadata that holds its rules."""


ECHO_CHARS = 80
"""How much of a bad value an error shows: a 100 kB value is not echoed in one 100 kB line."""


def shown(value: Any) -> str:
    """`value` as an error message shows it, cut to ECHO_CHARS; a boolean as TOML spells it
    (`rounds=true`, as the user typed it)."""
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= ECHO_CHARS else f"{text[:ECHO_CHARS]}... ({len(text)} chars)"


def check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={shown(value)} is invalid: expected {expected}")


@dataclass(frozen=True)
class Rule:
    ok: Callable[[Any, Any], bool]
    """(value, its section) -> whether the value is valid."""
    expected: str | Callable[[Any], str]
    """What a valid value is, in words; a callable gets the section (for sibling bounds)."""
    bad: Callable[[Any], tuple[Any, ...]]
    """Values of the field that break this rule, in a section otherwise as given."""
    each: bool = False
    """The rule applies to each item of a list, and the error names the item."""

    def describe(self, section: Any) -> str:
        return self.expected(section) if callable(self.expected) else self.expected


def at_least(low: int, expected: str = "") -> Rule:
    """An integer >= `low`."""
    return Rule(lambda v, s: v >= low, expected or f"an integer >= {low}", lambda s: (low - 1,))


def number_at_least(low: float) -> Rule:
    return Rule(lambda v, s: v >= low, f"a number >= {low:g}", lambda s: (low - 1.0,))


def above(low: float, expected: str = "") -> Rule:
    return Rule(lambda v, s: v > low, expected or f"a number > {low:g}", lambda s: (float(low),))


def within(
    low: float,
    high: float | str | Callable[[Any], float],
    expected: str,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Rule:
    """`low` <= value <= `high`, either end open; `high` may name a sibling field ("num") or be
    computed from the section. `expected` may say `{low}` and `{high}`."""
    if isinstance(high, str):
        top = lambda s: getattr(s, high)  # noqa: E731
    else:
        top = high if callable(high) else lambda s: high

    def ok(v: Any, s: Any) -> bool:
        return (v > low if low_open else v >= low) and (v < top(s) if high_open else v <= top(s))

    def bad(s: Any) -> tuple[Any, ...]:
        return (low if low_open else low - 1, top(s) if high_open else top(s) + 1)

    return Rule(ok, lambda s: expected.format(low=low, high=top(s)), bad)


def together(other: str, expected: str) -> Rule:
    """Set (> 0) exactly when the sibling field `other` is (two halves of one setting)."""
    ok = lambda v, s: (v > 0) == (getattr(s, other) > 0)  # noqa: E731
    return Rule(ok, expected, lambda s: (0.0 if getattr(s, other) > 0 else 1.0,))


def rule(
    ok: Callable[[Any], bool], expected: str, bad: tuple[Any, ...], each: bool = False
) -> Rule:
    """Any other rule on the value alone (paths, key=value strings)."""
    return Rule(lambda v, s: ok(v), expected, lambda s: bad, each)


def sizes(n: int, what: str) -> Rule:
    """A list of `n` integers, each >= 1 (a shape, a pair of sample counts)."""
    bad = ([1] * (n - 1), [0] + [1] * (n - 1))
    return rule(lambda v: len(v) == n and all(d >= 1 for d in v), f"{what}, each >= 1", bad)


def bounded(default: Any, *rules: Rule) -> Any:
    """A dataclass field with `rules` in its metadata (a list default is copied per instance)."""
    if isinstance(default, list):
        items = list(default)
        return dataclasses.field(default_factory=lambda: list(items), metadata={RULES: rules})
    return dataclasses.field(default=default, metadata={RULES: rules})


def field_rules(f: dataclasses.Field) -> tuple[Rule, ...]:
    return f.metadata.get(RULES, ())


def check_fields(section: Any, prefix: str) -> None:
    """The one loop: every rule of every field of `section`, in declaration order."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        for r in field_rules(f):
            for item in value if r.each else (value,):
                check(r.ok(item, section), prefix + f.name, item, r.describe(section))


class Section:
    """A config section: its fields' rules are checked on construction, then `check`."""

    KEY: ClassVar[str] = ""
    """The section's name in TOML ("clients"); empty for the top level."""

    def __init_subclass__(cls, key: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.KEY = key

    def __post_init__(self) -> None:
        check_fields(self, f"{self.KEY}." if self.KEY else "")
        self.check()

    def check(self) -> None:
        """Rules across sections, which no field's metadata can state; none by default."""
