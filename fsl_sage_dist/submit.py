"""`fsl-sage submit [CONFIG] [key=value ...] [--wait]`: the `fsl-sage run` job, on Slurm.

    fsl-sage submit configs/fmnist_fsl_sage.toml launch.client_hosts=3 slurm.partition=cpu
    fsl-sage submit configs/cifar10_fsl_sage.toml launch.client_hosts=7 slurm.nodes=2 \\
        slurm.gpus_per_node=4 slurm.time_min=240 checkpoint.every=5 --wait

One Slurm task per rank: 1 + launch.client_hosts = slurm.nodes x tasks per node. Each task runs
`RankJob`: submitit's TorchDistributedEnvironment exports RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT (a port derived from the job id), then `fsl-sage run` itself runs
with the same arguments, so the job takes exactly the torchrun code path. Before the time limit
(or on preemption) Slurm signals the job; submitit calls `RankJob.checkpoint()` on global rank 0
and requeues the same callable, whose rerun of the same config on the same RUN_DIR resumes from
the last complete checkpoint (`checkpoint.every`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import submitit

from fsl_sage_dist.config import Config, ConfigError
from fsl_sage_dist.log import logger


class SubmitError(RuntimeError):
    """A job Slurm will not take; the message is one line meant for the user."""


def tasks_per_node(cfg: Config) -> int:
    """Slurm tasks per node so that the job has exactly one task per rank."""
    s, world = cfg.slurm, cfg.world_size
    if s.tasks_per_node == 0:
        if world % s.nodes:
            raise ConfigError(
                f"1 + launch.client_hosts = {world} ranks do not spread evenly over "
                f"slurm.nodes={s.nodes}; make 1 + launch.client_hosts a multiple of "
                "slurm.nodes, or set slurm.nodes=1"
            )
        return world // s.nodes
    if s.nodes * s.tasks_per_node != world:
        raise ConfigError(
            f"slurm.nodes={s.nodes} x slurm.tasks_per_node={s.tasks_per_node} = "
            f"{s.nodes * s.tasks_per_node} Slurm tasks, but the job has 1 + "
            f"launch.client_hosts = {world} ranks (one task each); set "
            f"launch.client_hosts={s.nodes * s.tasks_per_node - 1}, or "
            "slurm.tasks_per_node=0 to derive it"
        )
    return s.tasks_per_node


def run_arguments(config: str | None, overrides: list[str], cfg: Config) -> list[str]:
    """`fsl-sage run` arguments every task (and every requeue) runs with: the user's, with the
    config file and RUN_DIR made absolute and the resolved output.name pinned, so that all ranks
    agree on one RUN_DIR whenever and wherever they start."""
    pinned = [
        f"output.dir={json.dumps(str(Path(cfg.output.dir).resolve()))}",
        f"output.name={json.dumps(cfg.output.name)}",
    ]  # JSON strings are TOML strings
    head = [str(Path(config).resolve())] if config else []
    return head + overrides + pinned


class RankJob:
    """One rank of a submitted run; submitit pickles it and calls it in every Slurm task."""

    def __init__(self, run_args: list[str]) -> None:
        self.run_args = run_args

    def __call__(self) -> None:
        from fsl_sage_dist.run_command import (
            start,  # bad input raises, so submitit reports its message
        )

        # After a requeue, this task's result from the interrupted run may still be there (the
        # hosts fail when the server leaves); drop it so `job.results()` waits for this run's.
        submitit.JobEnvironment().paths.result_pickle.unlink(missing_ok=True)
        # overwrite: sbatch copies the submitting shell's environment, whose RANK or MASTER_*
        # (from a torchrun, say) must not win over this job's. CUDA_VISIBLE_DEVICES stays whole:
        # the runtime picks cuda:LOCAL_RANK itself, as under torchrun.
        submitit.helpers.TorchDistributedEnvironment().export(
            set_cuda_visible_devices=False, overwrite=True
        )
        status = start(self.run_args)
        if status != 0:
            raise RuntimeError(f"fsl-sage run exited with status {status}; see the error above")

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        # Nothing to save here: the ranks checkpoint RUN_DIR themselves every checkpoint.every
        # rounds, and the requeued call resumes from the last complete one.
        return submitit.helpers.DelayedSubmission(self)


def make_executor(cfg: Config) -> submitit.AutoExecutor:
    tasks = tasks_per_node(cfg)
    if shutil.which("sbatch") is None:
        raise SubmitError(
            "no Slurm here (sbatch is not on PATH); submit from a Slurm login "
            "node, or run locally with `fsl-sage run`"
        )
    s = cfg.slurm
    executor = submitit.AutoExecutor(folder=Path(s.folder).resolve() / "%j", cluster="slurm")
    executor.update_parameters(  # None = leave it to the cluster's defaults
        name=f"fsl-sage-{cfg.output.name}",
        nodes=s.nodes,
        tasks_per_node=tasks,
        cpus_per_task=s.cpus_per_task,
        gpus_per_node=s.gpus_per_node or None,
        mem_gb=s.mem_gb,
        timeout_min=s.time_min,
        slurm_partition=s.partition or None,
        slurm_account=s.account or None,
        slurm_qos=s.qos or None,
        slurm_signal_delay_s=s.signal_delay_s,
        slurm_additional_parameters=dict(item.split("=", 1) for item in s.extra) or None,
    )
    return executor


def _rejection(err: submitit.core.utils.FailedJobError) -> str:
    """sbatch's own reason, e.g. 'Requested node configuration is not available'."""
    lines = [line for line in str(err).splitlines() if "error:" in line] or [str(err)]
    reason = lines[-1].rsplit("error:", 1)[-1].strip()
    return reason.removeprefix("Batch job submission failed:").strip()


def submit(executor: submitit.AutoExecutor, job: RankJob) -> submitit.Job:
    # submitit echoes sbatch's stderr itself; keep it to report one line instead.
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return executor.submit(job)
    except submitit.core.utils.FailedJobError as err:
        raise SubmitError(f"Slurm rejected the job: {_rejection(err)}") from None


def _job_error(err: submitit.core.utils.UncompletedJobError) -> str:
    """The failed task's exception line; submitit puts the traceback between two rulers."""
    text = str(err)
    parts = text.split("-" * 22 + "\n")
    if len(parts) > 2:
        return parts[1].strip().splitlines()[-1]
    state = re.search(r"\(state: ([^)\n]*)\)", text)  # cancelled, killed, node failure
    return f"it ended without a result (state: {state[1]})" if state else text.splitlines()[0]


def wait(job: submitit.Job) -> int:
    """Follow the job to its end; the exit status of `fsl-sage submit --wait`."""
    try:
        job.results()  # one result per task; the first failed task's error is raised
    except KeyboardInterrupt:
        logger.warning(f"stopped waiting; job {job.job_id} keeps running (scancel {job.job_id})")
        return 130
    except submitit.core.utils.UncompletedJobError as err:
        logger.error(f"job {job.job_id} failed: {_job_error(err)} (logs: {job.paths.folder})")
        return 1
    logger.info(f"job {job.job_id} finished")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from fsl_sage_dist.data import (
        DatasetNotFoundError,  # torch-heavy: not on `fsl-sage compare`'s path
    )
    from fsl_sage_dist.run_command import prepare, split_args

    config, overrides = split_args(args.items)
    try:
        cfg = prepare(config, overrides)
        executor = make_executor(cfg)
        job = submit(executor, RankJob(run_arguments(config, overrides, cfg)))
    except (ConfigError, DatasetNotFoundError, SubmitError) as err:
        logger.error(f"{err}")
        return 2
    print(
        f"job id:  {job.job_id}  ({cfg.world_size} tasks: server + "
        f"{cfg.launch.client_hosts} client hosts)"
    )
    print(f"logs:    {job.paths.folder}")
    print(f"run dir: {cfg.run_dir.resolve()}", flush=True)
    if cfg.checkpoint.every == 0:
        logger.warning(
            "checkpoint.every=0, so a preempted or timed-out job cannot resume when "
            "Slurm requeues it; set checkpoint.every=N to resume"
        )
    return wait(job) if args.wait else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("submit", help="submit the same job to Slurm (through submitit)")
    cmd.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    cmd.add_argument(
        "--wait", action="store_true", help="follow the job to its end and exit with its status"
    )
    cmd.set_defaults(func=cmd_submit)
