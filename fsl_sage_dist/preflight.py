"""Everything about a run that can be checked before a rank is spawned, beyond one config
section (those checks are declared with their fields in config/sections.py): the data, the
model on that data, the machine, and RUN_DIR. Each problem is one `ConfigError` line;
`fsl-sage run` prints it and exits 2.

    cfg = load_config(path, overrides)
    check_inputs(cfg)              # data, partition, model on the data, what RUN_DIR holds
    check_this_machine(cfg)        # only where the ranks will run here (not for `submit`)
    lock = claim_run_dir(cfg)      # creates RUN_DIR, locks it, checks what it holds again

The lock is an flock on the RUN_DIR folder itself (no lock file to leave behind), held by the
launching process until it exits (the kernel drops it then, even after a SIGKILL, so it never
goes stale): a second run started on the same RUN_DIR meanwhile is refused instead of mixing
its files into the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from fsl_sage_dist.checkpoint import read_manifest
from fsl_sage_dist.config import Config, ConfigError
from fsl_sage_dist.data import (
    TEXT_DATASETS,
    check_dataset_available,
    check_partition_sizes,
    dataset_shape,
    train_size,
)
from fsl_sage_dist.data.sources import can_reach
from fsl_sage_dist.devices import choose_backend
from fsl_sage_dist.llm_options import gpt2_spec
from fsl_sage_dist.models import LANGUAGE_MODELS, build_split_model
from fsl_sage_dist.rundir import layout
from fsl_sage_dist.units import GIB


def check_inputs(cfg: Config) -> None:
    _check_language_model(cfg)
    _check_data_root(cfg)
    check_dataset_available(cfg.data.name, cfg.data.root)
    _check_partition(cfg)
    _check_model(cfg)
    _check_run_dir_path(cfg)
    check_run_dir(cfg)


HUB_URL = "https://huggingface.co"


def _check_language_model(cfg: Config) -> None:
    """A language model needs a text dataset (and the reverse), transformers, and pretrained
    weights it can actually reach: a hub name without a network fails here, once."""
    language = cfg.model.name in LANGUAGE_MODELS
    if language != (cfg.data.name in TEXT_DATASETS):
        raise ConfigError(
            f"model.name={cfg.model.name!r} cannot train on data.name="
            f"{cfg.data.name!r}: language models ({', '.join(LANGUAGE_MODELS)}) "
            f"take the text datasets ({', '.join(TEXT_DATASETS)}), the other "
            "models the image ones"
        )
    if not language:
        return
    try:
        from transformers import AutoConfig
    except ImportError:
        raise ConfigError(
            f"model.name={cfg.model.name!r} needs Hugging Face transformers: "
            "pip install 'fsl-sage-dist[llm]'"
        ) from None
    name = cfg.model.pretrained
    if not name or Path(name).expanduser().is_dir():
        return
    try:  # a hub name: in the local cache, or reachable now (not after minutes of retries)
        AutoConfig.from_pretrained(name, local_files_only=not can_reach(HUB_URL))
    except (OSError, ValueError):
        raise ConfigError(
            f"model.pretrained={name!r} is not a local folder, and the Hugging Face hub has no "
            f"such model or cannot be reached from here; on a machine with a network, save it "
            f"with GPT2LMHeadModel.from_pretrained({name!r}).save_pretrained(FOLDER) (and "
            "AutoTokenizer likewise), then set model.pretrained=FOLDER"
        ) from None


def _check_data_root(cfg: Config) -> None:
    """An explicit root that is not there is a typo: never fall back to another copy."""
    root = cfg.data.root
    if root and not Path(root).expanduser().is_dir():
        raise ConfigError(
            f"data.root={root!r} is not an existing folder; give the folder that "
            "holds the dataset (or one to download it into), or leave it empty"
        )


def _check_partition(cfg: Config) -> None:
    d = cfg.data
    available = train_size(d.name, tuple(d.synthetic_size))
    samples = min(d.train_limit, available) if d.train_limit else available
    try:
        check_partition_sizes(samples, cfg.clients.num, d.partition, d.shards_per_client)
    except ValueError as err:
        raise ConfigError(f"data.partition={d.partition!r} is impossible: {err}") from None


def _pretrained_error(cfg: Config, err: BaseException) -> ConfigError:
    reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    return ConfigError(
        f"model.pretrained={cfg.model.pretrained!r} holds no model this can load "
        f"({type(err).__name__}: {reason}); give a folder written by save_pretrained "
        "(config.json and model.safetensors, with the tokenizer's files)"
    )


def _model_on_meta(cfg: Config) -> Any:
    """The split model of `cfg` built once on the data's shape: on the meta device (no memory,
    a fraction of a second, whatever its size) unless it loads pretrained weights. A shape it
    cannot take fails here, not inside every rank; so does a pretrained folder without a
    model (transformers' own error, whatever its type, becomes one line)."""
    pretrained, shape = bool(cfg.model.pretrained), None
    try:
        shape, classes = dataset_shape(
            cfg.data.name,
            tuple(cfg.data.synthetic_shape),
            cfg.data.num_classes,
            seq_len=cfg.data.seq_len,
            pretrained=cfg.model.pretrained,
        )
        with contextlib.nullcontext() if pretrained else torch.device("meta"):
            return build_split_model(
                cfg.model.name,
                shape,
                classes,
                cut=cfg.model.cut,
                stem=cfg.model.stem,
                seed=cfg.seed,
                gpt2=gpt2_spec(cfg),
            )
    except Exception as err:  # noqa: BLE001 - transformers' OSError, UnpicklingError, ...
        if pretrained:
            raise _pretrained_error(cfg, err) from None
        if not isinstance(err, ValueError) or shape is None:
            raise
        raise ConfigError(
            f"model.name={cfg.model.name!r} cannot take the {cfg.data.name} inputs of "
            f"shape {list(shape)}: {err}"
        ) from None


def _check_model(cfg: Config) -> None:
    model = _model_on_meta(cfg)
    parts = (model.client, model.server, model.aux)
    if cfg.train.batch_size == 1 and any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for p in parts for m in p.modules()
    ):
        raise ConfigError(
            f"train.batch_size=1 cannot train model.name={cfg.model.name!r}: its BatchNorm "
            "layers need more than one sample per batch; use train.batch_size >= 2"
        )


TRAINING_COPIES = 4
"""Copies of its parameters a rank holds to train them at least: weights, gradients and Adam's
two moments (activations come on top)."""


def _check_model_fits(cfg: Config) -> None:
    """A model whose training alone would exceed this machine's memory on the ranks that run
    here is refused with the figures, before the ranks build it and meet the OOM killer."""
    model = _model_on_meta(cfg)
    state = sum(
        t.numel() * t.element_size()
        for part in (model.client, model.server, model.aux)
        for t in (*part.parameters(), *part.buffers())
    )
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", cfg.world_size))
    need = TRAINING_COPIES * state * local_world
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > memory:
        raise ConfigError(
            f"model.name={cfg.model.name!r} on inputs of this data's shape has "
            f"{state / GIB:.1f} GiB of parameters; training needs at least "
            f"{TRAINING_COPIES}x that on each of the {local_world} ranks here "
            f"({need / GIB:.1f} GiB), more than this machine's {memory / GIB:.1f} GiB; "
            "use smaller inputs (data.synthetic_shape) or another model"
        )


def check_this_machine(cfg: Config) -> None:
    """What only the machine the ranks run on can tell: enough GPUs for the backend, and a
    spill folder this user can write."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", cfg.world_size))
    choose_backend(cfg.runtime.backend, 0, local_world)
    _check_model_fits(cfg)
    if cfg.runtime.spill and cfg.runtime.spill_dir:
        _check_writable(Path(cfg.runtime.spill_dir).expanduser())


def _check_writable(folder: Path) -> None:
    """Create `folder` and a file in it, so an unusable runtime.spill_dir fails now, not at the
    first spill rounds into the run."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ConfigError(
            f"runtime.spill_dir={str(folder)!r} cannot hold spilled client state "
            f"({(err.strerror or str(err)).lower()}); choose a folder this user can write, "
            "or leave it empty for RUN_DIR/client_state"
        ) from None


def claim_run_dir(cfg: Config, lock: bool = True) -> int | None:
    """Create and lock RUN_DIR (`lock=False`: only create it, for the ranks of a torchrun job
    other than rank 0), then check that this run may use it. Returns the locked file
    descriptor, which must stay open for the run."""
    try:
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot create RUN_DIR {cfg.run_dir} ({err.strerror}); check "
            "output.dir and output.name"
        ) from None
    held = _lock(cfg.run_dir) if lock else None
    check_run_dir(cfg)  # again: another run may have written to it since `check_inputs`
    return held


def _lock(run_dir: Path) -> int:
    fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(
            f"{run_dir} is in use by another run that is still going; wait for "
            "it, or choose another output.name"
        ) from None
    return fd


LONGEST_INSIDE = len("checkpoints/round_000000/.rank0000.pt.00000000.tmp") + 1
"""Bytes a path inside RUN_DIR adds to RUN_DIR's own (the longest: a checkpoint's temporary
file of a 4-digit rank), so the whole run fits in PATH_MAX when RUN_DIR does with this room."""


def _check_run_dir_path(cfg: Config) -> None:
    """RUN_DIR could be created and every file in it named (also under --dry-run, which
    creates nothing): not longer than PATH_MAX, and under a folder, not a file."""
    run_dir = cfg.run_dir.expanduser().absolute()
    limit = os.pathconf("/", "PC_PATH_MAX")
    length = len(os.fsencode(str(run_dir))) + LONGEST_INSIDE
    if length >= limit:
        raise ConfigError(
            f"RUN_DIR is {length - LONGEST_INSIDE} bytes long, too long for the files in it "
            f"(the system's PATH_MAX is {limit}); choose a shorter output.dir or output.name"
        )
    existing = run_dir
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing != run_dir and not existing.is_dir():
        raise ConfigError(
            f"cannot create RUN_DIR {cfg.run_dir} (Not a directory: {existing}); check "
            "output.dir and output.name"
        )


def _holds_rounds(metrics: Path) -> bool:
    """Whether metrics.jsonl holds a finished round (an empty file, or one half line, left by a
    first round that failed does not count)."""
    return metrics.is_file() and b"\n" in metrics.read_bytes()


def check_run_dir(cfg: Config) -> None:
    """What RUN_DIR already holds must be resumable by this run (or absent)."""
    manifest = read_manifest(cfg)
    if manifest is None and _holds_rounds(cfg.run_dir / layout.METRICS):
        raise ConfigError(
            f"{cfg.run_dir} already holds a run without a checkpoint to resume "
            "from; choose another output.name (or output.dir), or move it away"
        )
    if manifest is not None and manifest["round"] + 1 > cfg.rounds:
        raise ConfigError(
            f"rounds={cfg.rounds} is below the {manifest['round'] + 1} rounds "
            f"the checkpoint in {cfg.run_dir} already holds; set rounds >= "
            f"{manifest['round'] + 1} to resume it, or choose another output.name"
        )
