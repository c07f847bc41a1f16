"""Plain-text tables for terminals and logs (`fsl-sage compare`, the benchmarks)."""

from __future__ import annotations


def align(rows: list[list[str]], left: int = 1, rule: bool = False) -> str:
    """Rows of cells padded to each column's widest cell: the first `left` columns (names)
    left-aligned, the rest (numbers) right-aligned so their digits line up; with `rule`, a line
    of dashes under the first row (the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """Seconds as a short human reading: 42.0 s, 12.5 min, 3.2 h."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 120 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
