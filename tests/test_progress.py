"""The server's progress: a line per round everywhere, a live status line on a terminal only."""

from __future__ import annotations

import io
import time

import pytest

from fsl_sage_dist.report import progress as progress_module
from fsl_sage_dist.report.progress import Progress, format_duration


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _record(round_: int, acc: float | None = 0.5) -> dict:
    return {
        "round": round_,
        "test_acc": acc,
        "client_loss": 0.25,
        "round_s": 2.0,
        "round_payload_bytes": 3 * 2**20,
        "cum_payload_bytes": 3 * 2**20 * (round_ + 1),
    }


@pytest.fixture
def clock(monkeypatch):
    """A wall clock the test moves by hand; Progress reads time.monotonic."""
    now = [100.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    return now


def test_plain_lines_when_not_a_terminal(clock):
    out = io.StringIO()
    progress = Progress(rounds=3, stream=out)
    for r in range(3):
        clock[0] += 10
        progress.update(_record(r, None if r == 1 else 0.5))
    lines = out.getvalue().split("\n")
    assert "\r" not in out.getvalue() and lines[-1] == "" and len(lines) == 4
    assert lines[0].startswith("round    1/3  test_acc 0.5000  loss 0.2500  payload MiB      3.00")
    assert "(cum       3.00)" in lines[0] and "2.00 s/round" in lines[0]
    assert "test_acc      -  " in lines[1] and "(cum       6.00)" in lines[1]
    # 10 s per round so far: 2 rounds left after the first, 0 after the last.
    assert lines[0].endswith("ETA 20s") and lines[2].endswith("ETA 0s")


def test_plain_lines_never_show_the_status(clock):
    out = io.StringIO()
    progress = Progress(rounds=3, stream=out)
    progress.status("uploads 3/10")
    assert out.getvalue() == ""


def test_a_status_line_on_a_terminal_gives_way_to_each_round(clock):
    out = FakeTerminal()
    progress = Progress(rounds=3, stream=out, tick_s=3600)  # no redraw by the clock here
    clock[0] += 5
    progress.status("uploads 3/10")
    assert out.getvalue() == "\rround    1/3  uploads 3/10  5s so far\x1b[K"  # no ETA yet
    clock[0] += 5
    progress.update(_record(0))  # 10 s per round
    assert out.getvalue().endswith(
        "\r\x1b[Kround    1/3  test_acc 0.5000  loss 0.2500  "
        "payload MiB      3.00 (cum       3.00)    2.00 s/round  "
        "ETA 20s\n"
    )
    clock[0] += 4
    progress.status("uploads 9/10, aligning client 3's aux")
    assert out.getvalue().endswith(
        "\rround    2/3  uploads 9/10, aligning client 3's aux  4s so far  ETA 16s\x1b[K"
    )
    progress.close()


def test_the_status_clock_moves_while_the_server_computes():
    out = FakeTerminal()
    progress = Progress(rounds=2, stream=out, tick_s=0.05)
    progress.status("aligning")
    deadline = time.monotonic() + 10
    while out.getvalue().count("\r") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    progress.close()
    assert out.getvalue().count("\r") >= 3, out.getvalue()


@pytest.mark.parametrize(
    "seconds, text", [(0, "0s"), (44.6, "45s"), (725, "12m05s"), (11220, "3h07m")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
