"""The message log, RUN_DIR/messages.jsonl: every metered message of a run and the measured
compute times, one JSON line per round, appended as the round ends (docs/run_dir.md).

    rounds = read_messages(Path("runs/fsl_sage"))    # list[RoundMessages], no torch needed

Each line is columnar (one list per field) so that a round of thousands of messages stays one
short line: `messages` gives per metered message the client, the local iteration it was sent or
received in (NO_ITERATION for the round-end exchange), the category (an index into the line's
`categories`), whether it went up, and its bytes; their sum per round and category is exactly
the meter's (`wire/meter.py` records both at one call). `client_compute` gives per client and
iteration the seconds of its forward pass and of its update (waits for messages excluded),
`server_steps` the seconds of the server's work on each upload (alignment excluded), `align_s`
each alignment fit, `average_s` the server's averaging per category, `round_end_s` its other
round-end work and `eval_s` the evaluation (null in rounds not evaluated).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsl_sage_dist.rundir.layout import MESSAGES
from fsl_sage_dist.units import NO_ITERATION  # noqa: F401 (the log's readers take it from here)


@dataclass
class Message:
    client: int
    iteration: int
    """Local iteration the message was sent or received in; NO_ITERATION at the round end."""
    category: str
    direction: str
    nbytes: int


@dataclass
class RoundMessages:
    """One round of `messages.jsonl`: every metered message and the measured compute times."""

    round: int
    participants: list[int]
    messages: list[Message]
    client_s: dict[tuple[int, int], tuple[float, float]]
    """(client, iteration) -> seconds of its forward pass (and upload posting), of its update
    (waits for messages excluded)."""
    server_step_s: dict[tuple[int, int], float] = field(default_factory=dict)
    """(client, iteration) -> seconds of the server's work on that upload (alignment excluded)."""
    align_s: dict[int, float] = field(default_factory=dict)
    """client -> seconds of its alignment fit this round (FSL-SAGE; the aligned clients)."""
    average_s: dict[str, float] = field(default_factory=dict)
    """category -> seconds of the server's averaging of it."""
    round_end_s: float = 0.0
    """The server's own round-end work after averaging (SplitFed-v1's server copies)."""
    eval_s: float | None = None

    def iterations(self, client: int) -> int:
        return sum(1 for c, _ in self.client_s if c == client)

    def to_json(self) -> dict[str, Any]:
        m = self.messages
        cats = sorted({x.category for x in m})
        keys = sorted(self.client_s)
        steps = sorted(self.server_step_s)
        return {
            "round": self.round,
            "participants": self.participants,
            "categories": cats,
            "messages": {
                "client": [x.client for x in m],
                "iteration": [x.iteration for x in m],
                "category": [cats.index(x.category) for x in m],
                "up": [int(x.direction == "up") for x in m],
                "bytes": [x.nbytes for x in m],
            },
            "client_compute": {
                "client": [c for c, _ in keys],
                "iteration": [i for _, i in keys],
                "forward_s": [self.client_s[k][0] for k in keys],
                "update_s": [self.client_s[k][1] for k in keys],
            },
            "server_steps": {
                "client": [c for c, _ in steps],
                "iteration": [i for _, i in steps],
                "step_s": [self.server_step_s[k] for k in steps],
            },
            "align_s": {str(c): s for c, s in sorted(self.align_s.items())},
            "average_s": self.average_s,
            "round_end_s": self.round_end_s,
            "eval_s": self.eval_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoundMessages:
        m, cats = data["messages"], data["categories"]
        messages = [
            Message(c, i, cats[k], "up" if up else "down", b)
            for c, i, k, up, b in zip(
                m["client"], m["iteration"], m["category"], m["up"], m["bytes"], strict=True
            )
        ]
        cc, ss = data["client_compute"], data["server_steps"]
        client_s = {
            (c, i): (f, u)
            for c, i, f, u in zip(
                cc["client"], cc["iteration"], cc["forward_s"], cc["update_s"], strict=True
            )
        }
        steps = {
            (c, i): s for c, i, s in zip(ss["client"], ss["iteration"], ss["step_s"], strict=True)
        }
        return cls(
            data["round"],
            data["participants"],
            messages,
            client_s,
            steps,
            {int(c): s for c, s in data["align_s"].items()},
            data["average_s"],
            data["round_end_s"],
            data["eval_s"],
        )


MAX_BYTES = 1 << 50
"""Bytes of one message the log may claim (a PiB): more is damage, not a run."""
MAX_SECONDS = 1e7
"""Seconds one measured phase may claim (months): more is damage, not a run."""


def _check_count(value: Any, what: str, high: float) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise ValueError(f"{what} is {value!r:.40}, expected an integer in [0, {high:g}]")


def _check_seconds(value: Any, what: str) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"{what} is {value!r:.40}, expected seconds in [0, {MAX_SECONDS:g}]")


def check_round(log: RoundMessages) -> None:
    """Every number of a parsed round is one a run can write (ValueError otherwise), so the
    replay never meets a string, a NaN, a negative size or an int too large for a float."""
    _check_count(log.round, "round", MAX_BYTES)
    if not isinstance(log.participants, list):
        raise ValueError(f"participants is {log.participants!r:.40}, expected a list")
    for client in log.participants:
        _check_count(client, "a participant", MAX_BYTES)
    for m in log.messages:
        _check_count(m.client, "a message's client", MAX_BYTES)
        _check_count(m.nbytes, "a message's bytes", MAX_BYTES)
        if not isinstance(m.iteration, int) or not isinstance(m.category, str):
            raise ValueError(f"a message's iteration or category is malformed: {m!r:.60}")
    for (client, iteration), times in log.client_s.items():
        _check_count(client, "a client", MAX_BYTES)
        if not isinstance(iteration, int):
            raise ValueError(f"an iteration is {iteration!r:.40}, expected an integer")
        for seconds in times:
            _check_seconds(seconds, "a client's compute time")
    for seconds in log.server_step_s.values():
        _check_seconds(seconds, "a server step's time")
    for seconds in (*log.align_s.values(), *log.average_s.values(), log.round_end_s):
        _check_seconds(seconds, "a server time")
    if log.eval_s is not None:
        _check_seconds(log.eval_s, "eval_s")


class LogError(Exception):
    """A message log that cannot be replayed; the message names the file (and line)."""


def read_messages(run_dir: Path) -> list[RoundMessages]:
    """The rounds of RUN_DIR/messages.jsonl, in order; an incomplete last line (a crash while
    it was written) is left out, as compare does with metrics.jsonl."""
    path = run_dir / MESSAGES
    if not path.is_file():
        raise LogError(f"{path}: missing (runs made before the message log have none)")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LogError(f"{path}: cannot be read ({(err.strerror or str(err)).lower()})") from None
    lines = data.split(b"\n")
    lines.pop()  # empty after a last newline; otherwise a crash's incomplete line
    rounds = []
    for lineno, line in enumerate(lines, start=1):
        try:
            log = RoundMessages.from_json(json.loads(line.decode()))
            check_round(log)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
            reason = f"{type(err).__name__}: {str(err)[:120]}"
            raise LogError(f"{path}, line {lineno}: not a message-log round ({reason})") from None
        except RecursionError:
            raise LogError(f"{path}, line {lineno}: nested too deeply to be a round") from None
        if log.round != len(rounds):
            raise LogError(
                f"{path}, line {lineno}: round {log.round} where round {len(rounds)} was expected"
            )
        rounds.append(log)
    return rounds
