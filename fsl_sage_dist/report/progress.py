"""The server's progress on its standard output.

In a log file or pipe (Slurm output, tests): one plain line per finished round. On a terminal:
the same line per finished round, and below it a status line rewritten in place while a round
runs (what the server is doing, the seconds the round has taken so far, an ETA), redrawn every
second by a daemon thread so the clock moves while the server computes.

The ETA is the mean wall time of the rounds finished since this object was made times the
rounds left (evaluation and the round-end reduction included; a resumed run estimates from its
own rounds only).
"""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time
from typing import Any, TextIO

from fsl_sage_dist.units import MIB


def format_duration(seconds: float) -> str:
    """Compact and fixed-width enough for a progress line: 45s, 12m05s, 3h07m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _number(value: float | None) -> str:
    return "     -" if value is None or not math.isfinite(value) else f"{value:.4f}"


def progress_line(record: dict[str, Any], rounds: int, eta_s: float | None = None) -> str:
    """Round r/R (1-based for people), accuracy, the clients' training loss (`client_loss`:
    every batch, comparable across algorithms), payload MiB (round, cumulative), time."""
    line = (
        f"round {record['round'] + 1:>4}/{rounds}  test_acc {_number(record['test_acc'])}  "
        f"loss {_number(record.get('client_loss'))}  "
        f"payload MiB {record['round_payload_bytes'] / MIB:9.2f} "
        f"(cum {record['cum_payload_bytes'] / MIB:10.2f})  {record['round_s']:6.2f} s/round"
    )
    return line if eta_s is None else f"{line}  ETA {format_duration(eta_s)}"


class Progress:
    def __init__(self, rounds: int, stream: TextIO | None = None, tick_s: float = 1.0) -> None:
        self.rounds = rounds
        self.stream = stream if stream is not None else sys.stdout
        self.live = self.stream.isatty()
        self.start = self.round_start = time.monotonic()
        self.done = 0
        self.next_round = 0
        self.activity = ""
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        if self.live:
            threading.Thread(target=self._tick, args=(tick_s,), daemon=True).start()

    def begin(self, first_round: int) -> None:
        """The run (or its resumed part) starts now, at `first_round`."""
        with self._lock:
            self.next_round, self.done = first_round, 0
            self.start = self.round_start = time.monotonic()

    def status(self, activity: str) -> None:
        """What the server is doing now (`uploads 7/40`, `aligning client 3`, `evaluating`);
        shown on a terminal only."""
        self.activity = activity
        if self.live:
            self._draw_status()

    def update(self, record: dict[str, Any]) -> None:
        """A round has finished: its line, for good."""
        with self._lock:
            now = time.monotonic()
            self.done += 1
            self.next_round = record["round"] + 1
            self.round_start, self.activity = now, ""
            eta = (now - self.start) / self.done * (self.rounds - self.next_round)
            clear = "\r\x1b[K" if self.live else ""  # the status line gives way to the result
            self.stream.write(f"{clear}{progress_line(record, self.rounds, eta)}\n")
            self.stream.flush()

    def close(self) -> None:
        self._stopped.set()

    def _tick(self, tick_s: float) -> None:
        while not self._stopped.wait(tick_s):
            self._draw_status()

    def _draw_status(self) -> None:
        with self._lock:
            if not self.activity or self.next_round >= self.rounds:
                return
            now = time.monotonic()
            line = (
                f"round {self.next_round + 1:>4}/{self.rounds}  {self.activity}  "
                f"{format_duration(now - self.round_start)} so far"
            )
            if self.done:
                per_round = (self.round_start - self.start) / self.done
                left = per_round * (self.rounds - self.next_round) - (now - self.round_start)
                line += f"  ETA {format_duration(max(0.0, left))}"
            width = shutil.get_terminal_size().columns - 1  # a wrapped line cannot be redrawn
            self.stream.write(f"\r{line[:width]}\x1b[K")
            self.stream.flush()
