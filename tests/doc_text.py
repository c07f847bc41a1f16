"""Reading README.md and docs/*.md for the figure checks (tests/test_doc_figures.py): the
pages, the files under docs/, phrases with {} for each number, and the text the number scanner
reads (prose and tables; code blocks and `code` spans are commands and keys)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Figure:
    """`phrase` is the page's text with `{}` for each printed number (`{w}` for a word such as
    "none"); a space matches any whitespace, so a phrase may wrap. `value(*files)` gives the
    figures in order (one value or a tuple), each printed with `spec` (one, or one per figure)."""

    page: str
    phrase: str
    file: str | tuple[str, ...]
    value: Callable[..., Any]
    spec: str | tuple[str, ...]


def load(name: str) -> Any:
    """A JSON file under docs/ (read by key, so added keys such as provenance do not matter),
    or a text file's text."""
    text = (ROOT / "docs" / name).read_text()
    return json.loads(text) if name.endswith(".json") else text


def blank(text: str, start: int, end: int) -> str:
    """Spaces in place of text[start:end], newlines kept, so offsets stay those of the page."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def scanned(text: str, skipped: set[str]) -> str:
    """The page with what the scanner does not read blanked out: fenced and indented code
    blocks, `code` spans, link targets, and the tables whose header row is in `skipped`."""
    for regex in (
        r"^```(?s:.*?)^```",
        r"(?:^(?: {4}|\t).*\n)+",
        r"`[^`\n]+(?:\n[^`\n]+){0,2}`",  # a span may wrap; a stray ` must not hide a page
        r"\]\([^)]*\)",
        r"https?://\S+",
    ):
        for m in reversed(list(re.finditer(regex, text, flags=re.MULTILINE))):
            text = blank(text, m.start(), m.end())
    for m in reversed(list(re.finditer(r"(?:^\|.*\|\n)+", text, flags=re.MULTILINE))):
        header = " | ".join(c.strip() for c in m.group(0).split("\n", 1)[0].strip("|").split("|"))
        if header in skipped:
            text = blank(text, m.start(), m.end())
    return text


NUMBER = re.compile(r"(?<![\w.\-])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.\-,])\d+(?:\.\d+)?")


def pattern(phrase: str | re.Pattern) -> re.Pattern:
    """The regex of a phrase: {} is a number, {w} a word, a space any whitespace, the rest
    literal. A compiled regex is used as it is."""
    if isinstance(phrase, re.Pattern):
        return phrase
    parts = []
    for part in re.split(r"(\{w?\})", phrase):
        if part == "{}":
            parts.append(r"(\d[\d,]*(?:\.\d+)?)")
        elif part == "{w}":
            parts.append(r"(\w+)")
        else:
            parts.append(r"\s+".join(re.escape(word) for word in part.split(" ")))
    return re.compile("".join(parts))


def rendered(figure: Figure, values: Any) -> list[str]:
    values = values if isinstance(values, tuple) else (values,)
    specs = figure.spec if isinstance(figure.spec, tuple) else (figure.spec,) * len(values)
    return [format(v, s) for v, s in zip(values, specs, strict=True)]


def page(name: str) -> str:
    return (ROOT / name).read_text()


def groups(phrase: str | re.Pattern, text: str) -> list[tuple[int, int]]:
    return [m.span(g) for m in pattern(phrase).finditer(text) for g in range(1, m.re.groups + 1)]


def commands() -> list[tuple[str, str, dict[str, list[str]]]]:
    """(page, JSON written, flags) of every benchmark command, in an indented block or a `code`
    span, that names the JSON it writes under docs/."""
    found = []
    for name in PAGES:
        text = page(name)
        lines = [
            command
            for block in re.findall(r"(?:^ {4}.*\n)+", text, flags=re.MULTILINE)
            for command in re.split(r"\n(?! {8})", block.replace("\\\n", " "))
        ]
        lines += re.findall(r"`(python benchmarks/[^`]*)`", text)
        for command in lines:
            words = command.split()
            if "--json" not in words or "python" not in words:
                continue
            flags: dict[str, list[str]] = {}
            for word in words[words.index("python") + 2 :]:
                if word.startswith("--"):
                    key = word
                    flags[key] = []
                else:
                    flags[key].append(word.strip('"'))
            found.append((name, flags.pop("--json")[0], flags))
    return found
