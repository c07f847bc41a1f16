"""Checkpoints as the ranks agree on them: save, resume, and when.

Each rank writes and reads only its own file (`checkpoint.py` holds the formats); what is agreed
is whether every rank succeeded. Saving and resuming are symmetric: every rank tries, the ranks
exchange one row of numbers each, and every rank raises the same `CheckpointError` naming the
ranks and files that failed. So a rank whose save or load failed never leaves the others waiting
for it, and the manifest is written only when every file is in place.

The agreement is `agreement.gather_rows` over the rank's `Transport`, so it runs, and is tested,
over the in-process loopback as well as between processes.
"""

from __future__ import annotations

import os

from fsl_sage_dist.checkpoint import (
    load_rank_state,
    rank_file,
    read_manifest,
    save_rank_state,
    write_manifest,
)
from fsl_sage_dist.config import Config
from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.errors import CheckpointError, PeerCheckpointError
from fsl_sage_dist.log import logger
from fsl_sage_dist.rundir.layout import JSON_LINES
from fsl_sage_dist.rundir.records import RecordsError
from fsl_sage_dist.runtime.agreement import gather_rows
from fsl_sage_dist.runtime.rank_loop import RankLoop
from fsl_sage_dist.wire.transport import Transport


def checkpoint_due(round_: int, rounds: int, every: int) -> bool:
    """Whether round `round_` of `rounds` ends with a checkpoint: every `every`-th round
    (`checkpoint.every`; 0 = never) and, when checkpointing at all, the last."""
    return every > 0 and ((round_ + 1) % every == 0 or round_ == rounds - 1)


SPILLED, RANK_FILE, FIRST_LOG = 1, 2, 3
"""Resume codes of what failed a rank's check (0: nothing): its spilled client state, its
checkpoint file, or the i-th JSON-lines file a checkpoint covers (FIRST_LOG + i,
`layout.JSON_LINES`)."""


def _checked_file(cfg: Config, round_: int, rank: int, code: int) -> str:
    """What a rank's resume check failed on, by its code."""
    if code == SPILLED:
        return f"the spilled client state of rank {rank}"
    if code == RANK_FILE:
        return str(rank_file(cfg.run_dir, round_, rank))
    return str(cfg.run_dir / JSON_LINES[code - FIRST_LOG])


def _load(
    cfg: Config, info: RankInfo, loop: RankLoop, manifest: dict
) -> tuple[int, CheckpointError | None]:
    """This rank's checkpoint into `loop`: (0, None), or the code and error of what failed."""
    round_ = manifest["round"]
    path = rank_file(cfg.run_dir, round_, info.rank)
    try:
        state = load_rank_state(cfg.run_dir, manifest, info.rank)
    except CheckpointError as err:
        return RANK_FILE, err
    try:
        loop.load_state_dict(state, round_)
    except CheckpointError as err:  # a spilled file the checkpoint refers to
        return SPILLED, err
    except RecordsError as err:  # the server's check of the file it names
        return FIRST_LOG + JSON_LINES.index(err.path.name), CheckpointError(
            f"rank {info.rank}: {err}"
        )
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return RANK_FILE, CheckpointError(
            f"rank {info.rank}: checkpoint {path} does not fit this run ({first}); it was "
            "written by another version of fsl-sage-dist? Resume it with that version, or "
            "move the checkpoints folder away to start over"
        )
    return 0, None


def resume(cfg: Config, info: RankInfo, transport: Transport, loop: RankLoop) -> int:
    """Load this rank's part of the last complete checkpoint; returns the first round to run.

    Every rank verifies its file against the manifest's hash (the server also its JSON-lines
    files, a client host the spilled files its checkpoint refers to) and loads it into memory
    only; the ranks agree before `loop.start` may change anything in RUN_DIR, so a damaged
    checkpoint leaves RUN_DIR as it was. The rank whose check failed raises its own reason;
    the others a `PeerCheckpointError` naming it, so the launcher shows the reason."""
    manifest = read_manifest(cfg)
    if manifest is None:
        return 0
    round_ = manifest["round"]
    code, error = _load(cfg, info, loop, manifest)
    # every rank learns which file failed which rank, so whichever error the user sees names it
    codes = [code for (code,) in gather_rows([code], info, transport)]
    if error:
        raise error
    bad = [_checked_file(cfg, round_, rank, code) for rank, code in enumerate(codes) if code]
    if bad:
        raise PeerCheckpointError(
            f"rank {info.rank}: cannot read checkpoint of round {round_ + 1}: "
            f"{', '.join(bad)} failed its check on the rank that reads it; "
            "RUN_DIR is left as it was"
        )
    logger.info(f"resuming {cfg.run_dir} after round {round_ + 1}")
    return round_ + 1


def save_checkpoint(
    cfg: Config, info: RankInfo, transport: Transport, loop: RankLoop, round_: int
) -> None:
    """Every rank writes its file, then all agree (as on resume): the manifest is written only
    when every file is in place, and a rank whose save failed is named, with its file and the
    OS error, on every rank (so whichever rank's error the user sees has the cause)."""
    row, error = [0] * 34, None  # errno of a failed save (0: saved), size, 32 digest bytes
    try:
        size, digest = save_rank_state(cfg.run_dir, round_, info.rank, loop.state_dict())
        row = [0, size, *digest]
    except OSError as err:  # atomic_write's WriteError: the OS error and the path
        row[0], error = err.errno or -1, err
    rows = gather_rows(row, info, transport)
    if error:
        raise CheckpointError(
            f"rank {info.rank}: cannot save its checkpoint of round {round_ + 1}: {error}"
        ) from None
    failed = [
        f"rank {rank} ({os.strerror(row[0]).lower() if row[0] > 0 else 'failed'}: "
        f"{rank_file(cfg.run_dir, round_, rank)})"
        for rank, row in enumerate(rows)
        if row[0]
    ]
    if failed:
        raise PeerCheckpointError(
            f"rank {info.rank}: could not save the checkpoint of round "
            f"{round_ + 1} on {', '.join(failed)}; the previous checkpoint "
            "stays in force"
        )
    if info.rank == 0:
        write_manifest(cfg, round_, [(row[1], bytes(row[2:])) for row in rows])
