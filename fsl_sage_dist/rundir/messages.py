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


class LogError(Exception):
    """A message log that cannot be replayed; the message names the file (and line)."""


def read_messages(run_dir: Path) -> list[RoundMessages]:
    """The rounds of RUN_DIR/messages.jsonl, in order; an incomplete last line (a crash while
    it was written) is left out, as compare does with metrics.jsonl."""
    path = run_dir / MESSAGES
    if not path.is_file():
        raise LogError(f"{path}: missing (runs made before the message log have none)")
    text = path.read_text()
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines.pop()
    rounds = []
    for lineno, line in enumerate(lines, start=1):
        try:
            log = RoundMessages.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError, IndexError) as err:
            raise LogError(f"{path}, line {lineno}: not a message-log round ({err!r})") from None
        if log.round != len(rounds):
            raise LogError(
                f"{path}, line {lineno}: round {log.round} where round {len(rounds)} was expected"
            )
        rounds.append(log)
    return rounds
