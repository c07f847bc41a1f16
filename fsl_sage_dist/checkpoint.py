"""Checkpoints: one file per rank per checkpointed round, and a manifest written last.

    RUN_DIR/checkpoints/round_000004/rank0.pt ... rankH.pt
    RUN_DIR/checkpoints/manifest.json          {"round": 4, "world_size": 3, "config": {...}}

Every file is written atomically (temporary file, fsync, rename), and the manifest only after
every rank has confirmed its file, so the manifest always names a complete set: a crash in the
middle of a checkpoint leaves the previous one in force. Files hold tensors and plain
containers only and are read with `torch.load(weights_only=True)`.

There is no RNG state to save: every random stream is derived from (seed, purpose, client,
round), so a resumed round draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from .config import Config, ConfigError, config_to_dict

# Keys that may change between a run and its resumption without changing its results.
RESUMABLE_CHANGES = ("rounds", "launch", "runtime", "eval", "output", "checkpoint", "slurm")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says why and what to do."""


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def round_dir(run_dir: Path, round_: int) -> Path:
    return checkpoint_dir(run_dir) / f"round_{round_:06d}"


def _fsync_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_rank_state(run_dir: Path, round_: int, rank: int, state: dict[str, Any]) -> None:
    folder = round_dir(run_dir, round_)
    folder.mkdir(parents=True, exist_ok=True)
    _fsync_write(folder / f"rank{rank}.pt", lambda f: torch.save(state, f))


def _state_config(cfg: Config) -> dict[str, Any]:
    data = config_to_dict(cfg)
    return {k: v for k, v in data.items() if k not in RESUMABLE_CHANGES}


def write_manifest(cfg: Config, round_: int) -> None:
    """Called by rank 0 once every rank confirmed its file; then older rounds are removed."""
    manifest = {"round": round_, "world_size": cfg.world_size, "config": _state_config(cfg)}
    path = checkpoint_dir(cfg.run_dir) / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _fsync_write(path, lambda f: f.write(json.dumps(manifest, indent=2).encode()))
    for old in checkpoint_dir(cfg.run_dir).glob("round_*"):
        if old.name != round_dir(cfg.run_dir, round_).name:
            shutil.rmtree(old, ignore_errors=True)


def _differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: checkpoint {a!r}, now {b!r}")
    return diffs


def read_manifest(cfg: Config) -> dict[str, Any] | None:
    """The manifest of RUN_DIR if there is one, checked against this run's config."""
    path = checkpoint_dir(cfg.run_dir) / "manifest.json"
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        round_, world = int(manifest["round"]), int(manifest["world_size"])
        saved_config = manifest["config"]
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"{path} is corrupt ({err}); move the checkpoints folder away to "
                          "start over") from None
    if world != cfg.world_size:
        raise ConfigError(f"the checkpoint in {cfg.run_dir} was written by {world} ranks, this "
                          f"run has {cfg.world_size}; set launch.client_hosts={world - 1} to "
                          "resume it, or choose another output.name")
    diffs = _differences(saved_config, _state_config(cfg))
    if diffs:
        raise ConfigError(f"the checkpoint in {cfg.run_dir} belongs to another config "
                          f"({'; '.join(diffs)}); use the same config to resume, or choose "
                          "another output.name")
    return {"round": round_}


def load_rank_state(run_dir: Path, round_: int, rank: int) -> dict[str, Any]:
    path = round_dir(run_dir, round_) / f"rank{rank}.pt"
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # truncated, garbled or missing: all mean "unusable"
        raise CheckpointError(f"rank {rank}: cannot read checkpoint {path}: "
                              f"{type(err).__name__}: {str(err).splitlines()[0]}") from None
