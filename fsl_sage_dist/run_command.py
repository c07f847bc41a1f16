"""`fsl-sage run`, shared by the command line and the Slurm task that `fsl-sage submit` starts.

Everything that can fail because of the user's input is checked here, before any process is
spawned; torch-heavy modules are imported inside the functions, so `fsl-sage compare` (which
goes through the same command-line module) never loads torch.
"""

from __future__ import annotations

import os
import time

from fsl_sage_dist.config import Config, ConfigError, load_config
from fsl_sage_dist.log import logger
from fsl_sage_dist.rundir import layout


def split_args(items: list[str]) -> tuple[str | None, list[str]]:
    """The first argument without '=' is the config file; the rest are overrides."""
    if items and "=" not in items[0]:
        return items[0], items[1:]
    return None, items


def _resolve_name(cfg: Config) -> None:
    """Give the run a name every rank agrees on: torchrun's run id, else the launch time."""
    if cfg.output.name:
        return
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    stamp = run_id if run_id != "none" else time.strftime("%Y%m%d-%H%M%S")
    cfg.output.name = f"{cfg.algorithm}-{stamp}"


def prepare(config: str | None, overrides: list[str]) -> Config:
    """Everything that can fail because of the user's input, before any process is spawned."""
    from fsl_sage_dist.preflight import (
        check_inputs,  # torch-heavy imports stay out of `compare`'s way
    )

    cfg = load_config(config, overrides)
    _resolve_name(cfg)
    check_inputs(cfg)
    return cfg


def _already_complete(cfg: Config) -> bool:
    from fsl_sage_dist.checkpoint import read_manifest

    manifest = read_manifest(cfg)
    done = manifest is not None and manifest["round"] + 1 >= cfg.rounds
    return done and (cfg.run_dir / layout.SUMMARY).exists()


def run(items: list[str], dry_run: bool = False) -> int:
    """`fsl-sage run [CONFIG] [key=value ...] [--dry-run]`: the exit status. Bad input is one
    `error:` line on stderr and status 2, with nothing started."""
    from fsl_sage_dist.data import DatasetNotFoundError

    try:
        return start(items, dry_run)
    except (ConfigError, DatasetNotFoundError) as err:
        logger.error(f"{err}")
        return 2


def start(items: list[str], dry_run: bool = False) -> int:
    """As `run`, but bad input raises (ConfigError, DatasetNotFoundError) before anything
    starts, so that a Slurm task can hand the message to the submitter."""
    from fsl_sage_dist.preflight import check_this_machine, claim_run_dir
    from fsl_sage_dist.runtime.launcher import launch_local, under_torchrun
    from fsl_sage_dist.runtime.worker import run_rank

    config, overrides = split_args(items)
    cfg = prepare(config, overrides)
    check_this_machine(cfg)
    if dry_run:  # a plan only: RUN_DIR is neither created nor locked
        from fsl_sage_dist.runtime.dry_run import dry_run_report

        print(dry_run_report(cfg))
        return 0
    if _already_complete(cfg):  # before the lock: a finished run's folder is not touched
        logger.info(f"{cfg.run_dir} is already complete ({cfg.rounds} rounds); nothing to do")
        return 0
    # held until this process exits; under torchrun, rank 0 holds it for the job
    lock = claim_run_dir(cfg, lock=os.environ.get("RANK", "0") == "0")  # noqa: F841
    if under_torchrun():
        run_rank(cfg)
        return 0
    logger.info(
        f"run dir: {cfg.run_dir}  ({cfg.algorithm}, {cfg.clients.num} clients on "
        f"{cfg.launch.client_hosts} client hosts + 1 server)"
    )
    return launch_local(cfg)
