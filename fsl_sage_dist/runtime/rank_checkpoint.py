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
from fsl_sage_dist.errors import CheckpointError
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


def _checked_file(cfg: Config, round_: int, rank: int, code: int) -> str:
    """The file a rank's resume check failed on: code 1 its checkpoint file, 2 + i the i-th of
    the JSON-lines files a checkpoint covers (`layout.JSON_LINES`)."""
    return str(
        rank_file(cfg.run_dir, round_, rank) if code == 1 else cfg.run_dir / JSON_LINES[code - 2]
    )


def resume(cfg: Config, info: RankInfo, transport: Transport, loop: RankLoop) -> int:
    """Load this rank's part of the last complete checkpoint; returns the first round to run.

    Every rank verifies its file against the manifest's hash (the server also its JSON-lines
    files) and loads it into memory only; the ranks agree before `loop.start` may
    change anything in RUN_DIR, so a damaged checkpoint leaves RUN_DIR as it was."""
    manifest = read_manifest(cfg)
    if manifest is None:
        return 0
    round_, error, code = manifest["round"], None, 0
    try:
        loop.load_state_dict(load_rank_state(cfg.run_dir, manifest, info.rank), round_)
    except CheckpointError as err:
        error, code = err, 1
    except RecordsError as err:  # the server's check of the file it names
        error, code = (
            CheckpointError(f"rank {info.rank}: {err}"),
            2 + JSON_LINES.index(err.path.name),
        )
    # every rank learns which file failed which rank, so whichever error the user sees names it
    codes = [code for (code,) in gather_rows([code], info, transport)]
    if error:
        raise error
    bad = [_checked_file(cfg, round_, rank, code) for rank, code in enumerate(codes) if code]
    if bad:
        raise CheckpointError(
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
        raise CheckpointError(
            f"rank {info.rank}: could not save the checkpoint of round "
            f"{round_ + 1} on {', '.join(failed)}; the previous checkpoint "
            "stays in force"
        )
    if info.rank == 0:
        write_manifest(cfg, round_, [(row[1], bytes(row[2:])) for row in rows])
