"""Checkpoints: one file per rank per checkpointed round, and a manifest written last.

    RUN_DIR/checkpoints/round_000004/rank0.pt ... rankH.pt
    RUN_DIR/checkpoints/manifest.json          {"round": 4, "world_size": 3, "config": {...},
                                                "files": {"rank0.pt": {"bytes": .., "sha256": ..}}}

Every file is written atomically (`atomic_write`), and the manifest only after every rank has
confirmed its file and sent its SHA-256, so the manifest always names a complete set: a crash
in the middle of a checkpoint leaves the previous one in force. On resume a rank's file must
have the size and hash the manifest gives before `torch.load` sees it (torch checks no CRC: a
flipped byte in a tensor would otherwise load as a wrong weight). Files hold tensors and plain
containers only and are read with `torch.load(weights_only=True)`.

There is no RNG state to save: every random stream is derived from (seed, purpose, client,
round), so a resumed round draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from fsl_sage_dist.atomic_write import make_dirs, write_atomic
from fsl_sage_dist.config import Config, config_to_dict
from fsl_sage_dist.errors import CheckpointError, ConfigError
from fsl_sage_dist.rundir import layout

FORMAT = 1
"""The checkpoint layout this version writes and reads (the manifest's `format`; a manifest
without one is format 1). Raise it when the layout of manifest or rank files changes."""

# Keys that may change between a run and its resumption without changing its results.
RESUMABLE_CHANGES = ("rounds", "launch", "runtime", "eval", "output", "checkpoint", "slurm")


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / layout.CHECKPOINTS


def round_dir(run_dir: Path, round_: int) -> Path:
    return checkpoint_dir(run_dir) / f"round_{round_:06d}"


def rank_file(run_dir: Path, round_: int, rank: int) -> Path:
    return round_dir(run_dir, round_) / f"rank{rank}.pt"


def save_rank_state(
    run_dir: Path, round_: int, rank: int, state: dict[str, Any]
) -> tuple[int, bytes]:
    """Write this rank's file; returns its size and SHA-256 digest (32 bytes) for the
    manifest."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    path = rank_file(run_dir, round_, rank)
    make_dirs(path.parent)
    write_atomic(path, data)
    return len(data), hashlib.sha256(data).digest()


def _state_config(cfg: Config) -> dict[str, Any]:
    data = config_to_dict(cfg)
    return {k: v for k, v in data.items() if k not in RESUMABLE_CHANGES}


def write_manifest(cfg: Config, round_: int, files: list[tuple[int, bytes]]) -> None:
    """Called by rank 0 once every rank confirmed its file and sent its size and digest (in
    rank order); then older rounds are removed."""
    files = {
        f"rank{rank}.pt": {"bytes": size, "sha256": digest.hex()}
        for rank, (size, digest) in enumerate(files)
    }
    manifest = {
        "format": FORMAT,
        "round": round_,
        "world_size": cfg.world_size,
        "config": _state_config(cfg),
        "files": files,
    }
    path = checkpoint_dir(cfg.run_dir) / "manifest.json"
    make_dirs(path.parent)
    write_atomic(path, json.dumps(manifest, indent=2).encode())
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


def _file_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """One rank file's record, normalised (a malformed one raises ValueError/KeyError)."""
    return {"bytes": int(entry["bytes"]), "sha256": bytes.fromhex(entry["sha256"]).hex()}


def read_manifest(cfg: Config) -> dict[str, Any] | None:
    """The manifest of RUN_DIR if there is one, checked against this run's config."""
    path = checkpoint_dir(cfg.run_dir) / "manifest.json"
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        version = manifest.get("format", 1)
        if version != FORMAT:
            raise ConfigError(
                f"{path} was written in checkpoint format {version!r:.20}; this version reads "
                f"format {FORMAT}: resume it with the fsl-sage-dist that wrote it, or move the "
                "checkpoints folder away to start over"
            )
        round_, world = int(manifest["round"]), int(manifest["world_size"])
        saved_config = manifest["config"]
        files = {rank: _file_entry(manifest["files"][f"rank{rank}.pt"]) for rank in range(world)}
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise ConfigError(
            f"{path} is corrupt ({err}); move the checkpoints folder away to start over"
        ) from None
    if world != cfg.world_size:
        raise ConfigError(
            f"the checkpoint in {cfg.run_dir} was written by {world} ranks, this "
            f"run has {cfg.world_size}; set launch.client_hosts={world - 1} to "
            "resume it, or choose another output.name"
        )
    diffs = _differences(saved_config, _state_config(cfg))
    if diffs:
        raise ConfigError(
            f"the checkpoint in {cfg.run_dir} belongs to another config "
            f"({'; '.join(diffs)}); use the same config to resume, or choose "
            "another output.name"
        )
    return {"round": round_, "files": files}


def _verified_bytes(path: Path, rank: int, entry: dict[str, Any]) -> bytes:
    """The file's bytes if they are the ones the manifest recorded; else a CheckpointError."""

    def fail(reason: str) -> CheckpointError:
        return CheckpointError(
            f"rank {rank}: cannot read checkpoint {path}: {reason}; RUN_DIR "
            "is left as it was (move the checkpoints folder away to start "
            "over)"
        )

    try:
        data = path.read_bytes()
    except OSError as err:
        raise fail(err.strerror or str(err)) from None
    if not data:
        raise fail(f"the file is empty (the manifest says {entry['bytes']} bytes)")
    if len(data) != int(entry["bytes"]):
        raise fail(
            f"{len(data)} bytes where the manifest says {entry['bytes']} (truncated or replaced)"
        )
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise fail("its SHA-256 differs from the manifest's (damaged, or another rank's file)")
    return data


def load_rank_state(run_dir: Path, manifest: dict[str, Any], rank: int) -> dict[str, Any]:
    """This rank's state from the checkpoint `read_manifest` returned, verified first."""
    path = rank_file(run_dir, manifest["round"], rank)
    data = _verified_bytes(path, rank, manifest["files"][rank])
    try:
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as err:  # the hash matched, so this is a file torch itself cannot read
        raise CheckpointError(
            f"rank {rank}: cannot read checkpoint {path}: "
            f"{type(err).__name__}: {str(err).splitlines()[0]}"
        ) from None
