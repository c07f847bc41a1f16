"""The server's progress line: live on a terminal, plain lines elsewhere, with an ETA."""

from __future__ import annotations

import io

import pytest

from fsl_sage_dist import metrics
from fsl_sage_dist.metrics import Progress, format_duration


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _record(round_: int, acc: float | None = 0.5) -> dict:
    return {"round": round_, "test_acc": acc, "round_s": 2.0, "round_payload_bytes": 3 * 2**20,
            "cum_payload_bytes": 3 * 2**20 * (round_ + 1)}


@pytest.fixture
def clock(monkeypatch):
    """A wall clock the test moves by hand; Progress reads time.monotonic."""
    now = [100.0]
    monkeypatch.setattr(metrics.time, "monotonic", lambda: now[0])
    return now


def test_plain_lines_when_not_a_terminal(clock):
    out = io.StringIO()
    progress = Progress(rounds=3, stream=out)
    for r in range(3):
        clock[0] += 10
        progress.update(_record(r, None if r == 1 else 0.5))
    lines = out.getvalue().split("\n")
    assert "\r" not in out.getvalue() and lines[-1] == "" and len(lines) == 4
    assert lines[0].startswith("round    1/3  test_acc 0.5000  payload MiB      3.00")
    assert "(cum       3.00)" in lines[0] and "2.00 s/round" in lines[0]
    assert "test_acc    -  " in lines[1] and "(cum       6.00)" in lines[1]
    # 10 s per round so far: 2 rounds left after the first, 0 after the last.
    assert lines[0].endswith("ETA 20s") and lines[2].endswith("ETA 0s")


def test_one_rewritten_line_on_a_terminal(clock):
    out = FakeTerminal()
    progress = Progress(rounds=3, stream=out)
    for r in range(2):
        clock[0] += 30
        progress.update(_record(r))
    assert out.getvalue().count("\r") == 2 and "\n" not in out.getvalue()
    assert out.getvalue().endswith("ETA 30s\x1b[K")
    progress.update(_record(2))
    assert out.getvalue().endswith("\n")  # the final line stays on screen


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (44.6, "45s"), (725, "12m05s"),
                                           (11220, "3h07m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
