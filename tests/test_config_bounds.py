"""Every rule a config field declares is enforced, and its error names key, value and range.

The cases are generated from the fields' metadata (`config/rules.py`): each rule of each field
gives the values it refuses, and each must fail with exactly one `ConfigError` line
`key=value is invalid: expected <what the rule accepts>`. A rule added to a field is tested
without touching this file; a rule whose check is lost fails here.
"""

from __future__ import annotations

import dataclasses
import typing

import pytest

from fsl_sage_dist.config import Config, ConfigError, config_from_dict
from fsl_sage_dist.config.rules import field_rules
from fsl_sage_dist.config.rules import shown as echoed


def _cases() -> list[tuple[str, dict, object, str]]:
    """(key, the config as a dict, the value the error names, the expected text)."""
    top = [(None, Config, typing.get_type_hints(Config))]
    sections = [
        (f.name, hints[f.name], typing.get_type_hints(hints[f.name]))
        for _, _, hints in top
        for f in dataclasses.fields(Config)
        if dataclasses.is_dataclass(hints[f.name])
    ]
    cases = []
    for name, cls, hints in top + sections:
        section = cls()  # the defaults, which every rule accepts
        for f in dataclasses.fields(cls):
            for rule in field_rules(f):
                for bad in rule.bad(section):
                    value = float(bad) if hints[f.name] is float else bad
                    data = {name: {f.name: value}} if name else {f.name: value}
                    shown = value[0] if rule.each else value
                    key = f"{name}.{f.name}" if name else f.name
                    cases.append((key, data, shown, rule.describe(section)))
    return cases


CASES = _cases()


@pytest.mark.parametrize(("key", "data", "shown", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_value_out_of_range_names_key_value_and_range(key, data, shown, expected):
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert str(info.value) == f"{key}={echoed(shown)} is invalid: expected {expected}"


def test_the_generator_sees_every_bounded_field():
    """A field whose rules vanish drops out of CASES unnoticed, so the count is pinned: a new
    bounded field raises it, and lowering it must be a decision."""
    keys = {c[0] for c in CASES}
    assert len(keys) == 53 and len(CASES) == 68  # train.lr, fsl.aux_lr: above 1 too
    assert {"rounds", "clients.per_round", "runtime.timeout_s", "slurm.extra"} <= keys
    assert sum(c[0] == "lora.dropout" for c in CASES) == 2  # below 0 and at 1
