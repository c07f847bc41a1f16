"""One rank of a run, from process-group start to teardown: `run_rank(cfg)`.

torchrun (or `fsl-sage submit`) starts one process per rank with RANK, WORLD_SIZE, MASTER_ADDR
and MASTER_PORT set, the built-in launcher (`launcher.py`) with RANK, WORLD_SIZE and a store
file; each calls `run_rank` with the same resolved config.
Rank 0 becomes the server, ranks 1..H client hosts. If RUN_DIR holds a complete checkpoint,
every rank resumes from it.
"""

from __future__ import annotations

import os
import socket
import zlib

from fsl_sage_dist.atomic_write import make_dirs
from fsl_sage_dist.config import Config
from fsl_sage_dist.devices import RankInfo
from fsl_sage_dist.errors import CheckpointError
from fsl_sage_dist.log import setup_logging
from fsl_sage_dist.rundir import layout
from fsl_sage_dist.rundir.records import write_json
from fsl_sage_dist.runtime.agreement import gather_rows
from fsl_sage_dist.runtime.build import build_channel, build_loop, load_split
from fsl_sage_dist.runtime.process_group import destroy_process_group, init_process_group
from fsl_sage_dist.runtime.rank_checkpoint import checkpoint_due, resume, save_checkpoint
from fsl_sage_dist.runtime.rank_errors import error_file, record_error
from fsl_sage_dist.threads import set_threads
from fsl_sage_dist.wire import DistTransport
from fsl_sage_dist.wire.transport import Transport


class RankFailure(RuntimeError):
    """A rank could not go on; the message names the rank, its role and the round."""


def _check_same_config(cfg: Config, info: RankInfo, transport: Transport) -> None:
    """Every rank must run the same config; compare fingerprints."""
    fp = zlib.crc32(cfg.to_toml().encode())
    if any(other != fp for (other,) in gather_rows([fp], info, transport)):
        raise RankFailure(
            f"rank {info.rank}: the ranks of this job were started with "
            "different configs; start every rank with the same command"
        )


def _announce(cfg: Config, info: RankInfo, threads: int) -> None:
    """RUN_DIR/ranks/rankK.json says which process on which host is rank K, on what device
    and with how many intra-op threads (for operators)."""
    folder = cfg.run_dir / layout.RANKS
    make_dirs(folder)
    write_json(
        folder / f"rank{info.rank}.json",
        {
            "rank": info.rank,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "backend": info.backend,
            "device": str(info.device),
            "threads": threads,
        },
    )
    error_file(cfg.run_dir, info.rank).unlink(missing_ok=True)  # an earlier attempt's error


def _run(cfg: Config, info: RankInfo) -> None:
    setup_logging(info.rank, cfg.runtime.verbose)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size))
    threads = set_threads(cfg.runtime.threads_per_rank, local_world)
    transport = DistTransport()
    _check_same_config(cfg, info, transport)
    channel = build_channel(cfg, info, transport)
    loop = build_loop(cfg, info, channel, load_split(cfg, "train"))
    first_round = resume(cfg, info, transport, loop)
    _announce(cfg, info, threads)
    loop.start(first_round)
    for round_ in range(first_round, cfg.rounds):
        loop.run_round(round_)
        if checkpoint_due(round_, cfg.rounds, cfg.checkpoint.every):
            save_checkpoint(cfg, info, transport, loop, round_)
    loop.finish()


def run_rank(cfg: Config) -> None:
    """Run this rank; a failure is written to RUN_DIR/ranks/rankR.err before the process group
    is torn down (see `rank_errors.py`), so the cause is on disk before peers see a closed
    connection."""
    rank = int(os.environ["RANK"])
    role = "server" if rank == 0 else "client host"
    try:
        _run(cfg, init_process_group(cfg.runtime, cfg.world_size))
    except Exception as err:
        record_error(cfg.run_dir, rank, role, err)
        if isinstance(err, (RankFailure, CheckpointError)) or not isinstance(err, RuntimeError):
            raise
        # torch.distributed errors: a peer died, stalled or timed out
        raise RankFailure(f"rank {rank} ({role}): {err}") from err
    finally:
        destroy_process_group()
