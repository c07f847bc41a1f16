"""Every number in README.md and docs/*.md is a result checked against the file a script wrote,
or a setting the registry (tests/doc_figures.py) names as one.

- Each figure's phrase must still be on its page, and print what its file gives.
- The scanner reads every page's prose and tables (code aside: commands and keys) and fails on
  a number no figure, setting or not-a-result entry accounts for, so a new figure, or a new
  numeric table, needs its check before it is published; an entry that matches nothing fails.
- The README's quickstart excerpt is consecutive lines of docs/quickstart_output.txt.
- A benchmark command beside a result states the settings its JSON records.

    PYTHONPATH=$PWD .venv/bin/python -m pytest tests/test_doc_figures.py -q
"""

from __future__ import annotations

import re

import pytest
from doc_figures import CHECKED_TABLES, FIGURES, FLAGS, NOT_RESULTS, SETTING_TABLES, SETTINGS
from doc_text import NUMBER, PAGES, commands, groups, load, page, pattern, rendered, scanned

R = "README.md"


def covered(name: str) -> list[tuple[int, int]]:
    """The spans of page `name` that a figure, a setting or a not-a-result entry accounts for."""
    text = page(name)
    spans = []
    for figure in FIGURES + SETTINGS:
        if figure.page == name:
            spans += groups(figure.phrase, text)
    for where, phrase, _why in NOT_RESULTS:
        if where in (name, "*"):
            spans += groups(phrase, text)
    return spans


@pytest.mark.parametrize(
    "figure",
    FIGURES + SETTINGS,
    ids=lambda f: f"{f.page}:{f.phrase[:40]}",
)
def test_figure_is_its_file(figure):
    matches = list(pattern(figure.phrase).finditer(page(figure.page)))
    assert matches, f"{figure.page} no longer says {figure.phrase!r}"
    files = (figure.file,) if isinstance(figure.file, str) else figure.file
    want = rendered(figure, figure.value(*[load(f) for f in files]))
    for m in matches:
        got = [g.replace("−", "-") for g in m.groups()]
        assert got == want, f"{figure.page}: {m.group(0)!r} but {figure.file} gives {want}"


@pytest.mark.parametrize("name", PAGES)
def test_every_number_is_checked_or_not_a_result(name):
    text = scanned(page(name), CHECKED_TABLES | SETTING_TABLES)
    spans = covered(name)
    loose = [
        f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)} in "
        f"{' '.join(page(name)[max(0, m.start() - 40) : m.end() + 30].split())!r}"
        for m in NUMBER.finditer(text)
        if not any(a <= m.start() and m.end() <= b for a, b in spans)
    ]
    assert not loose, "numbers with no check and not listed as settings:\n" + "\n".join(loose)


def test_every_not_a_result_entry_matches():
    for where, phrase, why in NOT_RESULTS:
        pages = PAGES if where == "*" else [where]
        assert any(pattern(phrase).search(page(p)) for p in pages), (where, phrase, why)


def test_every_checked_table_is_there():
    headers = {
        " | ".join(c.strip() for c in line.strip("|").split("|"))
        for name in PAGES
        for line in page(name).splitlines()
        if line.startswith("|")
    }
    assert CHECKED_TABLES <= headers, CHECKED_TABLES - headers


def test_quickstart_excerpt_is_the_recorded_output():
    """Each plain code block of the README's Quickstart is a run of consecutive lines of
    docs/quickstart_output.txt, whatever run that file records."""
    section = page(R).split("\n## Quickstart", 1)[1].split("\n## ", 1)[0]
    fenced = re.findall(r"^```(\w*)\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    blocks = [body for info, body in fenced if not info]
    output = load("quickstart_output.txt").splitlines()
    assert len(blocks) == 2, "the per-round lines and the closing comparison"
    for block in blocks:
        lines = block.splitlines()
        assert any(output[i : i + len(lines)] == lines for i in range(len(output))), lines


# A command with none of these flags (llm_bytes.py --json ...) has no setting to compare.
@pytest.mark.parametrize(
    "name, out, flags",
    [c for c in commands() if set(c[2]) & set(FLAGS)],
    ids=lambda v: str(v)[:40],
)
def test_a_command_states_the_settings_its_json_records(name, out, flags):
    """The command a page gives for a result is the one its JSON was made with: rounds,
    train_limit, seeds, targets, overrides... as the JSON records them."""
    assert out.startswith("docs/"), out
    recorded = load(out.removeprefix("docs/"))
    checked = 0
    for flag, values in flags.items():
        if flag not in FLAGS or FLAGS[flag] not in recorded:
            continue
        got = recorded[FLAGS[flag]]
        if isinstance(got, list):
            got = [str(v) for v in got]
        else:
            (values,) = values
            got = str(got)
        assert got == values, f"{name}: {flag} {values} but {out} records {got}"
        checked += 1
    assert checked, f"{name}: no setting of {out} is checked"
