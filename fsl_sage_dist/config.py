"""Run configuration: one dataclass section per component, loaded from TOML plus overrides.

    cfg = load_config("configs/fmnist_fsl_sage.toml", ["rounds=5", "train.lr=1e-3"])

An override is `dotted.key=value`; the value is parsed as a TOML literal (`rounds=5`,
`data.synthetic_shape=[3,32,32]`, `model.cut="layer2"`) and otherwise taken as a string
(`model.cut=layer2`). Every problem is reported as one `ConfigError` line that names the key,
the bad value and what would be valid, before any process is spawned.

A choice (algorithm, dataset, partition, model, cut, stem, wire dtype) is declared once here, as
a `Literal`, so this leaf module stays free of torch and of the components it configures;
each choice names an implementation in its component's registry, and tests/test_choices.py
checks that the two lists are equal, so no choice passes validation only to fail in a rank.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin


class ConfigError(ValueError):
    """A bad config key or value; the message is meant to be shown to the user as is."""


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: expected {expected}")


@dataclass
class ClientsConfig:
    num: int = 10
    """Number of clients N."""
    per_round: int = 0
    """Clients sampled per round (K of N, seeded); 0 = all clients every round."""

    def __post_init__(self) -> None:
        _check(self.num >= 1, "clients.num", self.num, "an integer >= 1")
        _check(
            0 <= self.per_round <= self.num,
            "clients.per_round",
            self.per_round,
            f"0 (all) or 1..clients.num={self.num}",
        )


@dataclass
class LaunchConfig:
    client_hosts: int = 2
    """Client-host ranks H (world size = 1 + H); clients are placed round-robin on them."""
    max_restarts: int = 0
    """Restarts the built-in launcher allows a failed job (resumes from the last checkpoint)."""

    def __post_init__(self) -> None:
        _check(self.client_hosts >= 1, "launch.client_hosts", self.client_hosts, "an integer >= 1")
        _check(self.max_restarts >= 0, "launch.max_restarts", self.max_restarts, "an integer >= 0")


@dataclass
class DataConfig:
    name: Literal[
        "synthetic", "fashion_mnist", "cifar10", "cifar100", "e2e_synthetic", "e2e_nlg"
    ] = "fashion_mnist"
    root: str = ""
    """Folder holding an existing copy of the dataset; empty = well-known places, then download."""
    partition: Literal["iid", "shards", "dirichlet", "dirichlet_equal"] = "iid"
    """dirichlet: each class split over clients by Dir(alpha) proportions (client sizes
    differ); dirichlet_equal: the paper's reference, equal client sizes, each client's class
    mix ~ Dir(alpha) (the paper's alpha sweeps use this one)."""
    alpha: float = 0.5
    """Dirichlet concentration (smaller = more label skew); used by both dirichlet schemes."""
    shards_per_client: int = 2
    train_limit: int = 0
    """Cap on the total number of training samples before partitioning; 0 = no cap."""
    synthetic_shape: list[int] = field(default_factory=lambda: [1, 28, 28])
    num_classes: int = 10
    """Classes of the synthetic dataset (real datasets have their own)."""
    synthetic_size: list[int] = field(default_factory=lambda: [2000, 500])
    """[train, test] samples of the synthetic dataset."""
    augment: bool = False
    """Random crop + horizontal flip on training batches (meant for CIFAR)."""
    seq_len: int = 256
    """Tokens per row of a text dataset (e2e_*): prompt + target, right-padded or cut."""

    def __post_init__(self) -> None:
        _check(self.seq_len >= 2, "data.seq_len", self.seq_len, "an integer >= 2")
        _check(self.alpha > 0, "data.alpha", self.alpha, "a number > 0")
        _check(
            self.shards_per_client >= 1,
            "data.shards_per_client",
            self.shards_per_client,
            "an integer >= 1",
        )
        _check(self.train_limit >= 0, "data.train_limit", self.train_limit, "0 (no cap) or > 0")
        _check(
            len(self.synthetic_shape) == 3 and all(d >= 1 for d in self.synthetic_shape),
            "data.synthetic_shape",
            self.synthetic_shape,
            "[channels, height, width], each >= 1",
        )
        _check(self.num_classes >= 2, "data.num_classes", self.num_classes, "an integer >= 2")
        _check(
            len(self.synthetic_size) == 2 and all(n >= 1 for n in self.synthetic_size),
            "data.synthetic_size",
            self.synthetic_size,
            "[train, test] sample counts, each >= 1",
        )


@dataclass
class ModelConfig:
    name: Literal["simple_conv", "resnet18", "gpt2"] = "simple_conv"
    cut: Literal["layer1", "layer2", "layer3"] = "layer2"
    """Last ResNet layer on the client (resnet18 only)."""
    stem: Literal["imagenet", "cifar"] = "imagenet"
    """ResNet stem: 7x7/2 conv + max-pool (the paper's) or 3x3/1 conv without pooling."""
    gpt2_config: Literal["tiny", "small", "medium"] = "tiny"
    """GPT-2 shape (gpt2 only): tiny = 4 blocks, d 128, 4 heads, context 256 (for CPU);
    small and medium = OpenAI's. Ignored when `pretrained` is set."""
    cut_blocks: int = 1
    """Transformer blocks on the client (gpt2 only); the server has the rest."""
    aux_blocks: int = 3
    """Transformer blocks of the aux head (gpt2 only)."""
    pretrained: str = ""
    """gpt2 only: a folder written by transformers' `save_pretrained` (its tokenizer, if saved
    there, replaces the byte-level one), or a hub name where a network exists; empty = weights
    drawn from the seed."""

    def __post_init__(self) -> None:
        for key in ("cut_blocks", "aux_blocks"):
            value = getattr(self, key)
            _check(value >= 1, f"model.{key}", value, "an integer >= 1")


@dataclass
class LoRAConfig:
    """LoRA on the attention query and value projections of a language model (gpt2 only)."""

    r: int = 4
    alpha: float = 32.0
    dropout: float = 0.0
    """The reference uses 0.1; dropout draws from torch's global generator, so a run with
    dropout > 0 is not bitwise reproducible (nor layout-invariant)."""

    def __post_init__(self) -> None:
        _check(self.r >= 1, "lora.r", self.r, "an integer >= 1")
        _check(self.alpha > 0, "lora.alpha", self.alpha, "a number > 0")
        _check(0 <= self.dropout < 1, "lora.dropout", self.dropout, "a number in [0, 1)")


# The paper's batch size per model (ALGORITHMS.md decisions 11 and 16; 6.3 for gpt2).
DEFAULT_BATCH_SIZE = {"simple_conv": 128, "resnet18": 256, "gpt2": 8}


@dataclass
class TrainConfig:
    batch_size: int = 0
    """Samples per local iteration; 0 (unset) = the model's default, DEFAULT_BATCH_SIZE, which
    the resolved config.toml then records."""
    lr: float = 1e-3
    """Adam learning rate for client and server models."""
    weight_decay: float = 1e-4
    local_epochs: int = 1

    def __post_init__(self) -> None:
        _check(
            self.batch_size >= 0,
            "train.batch_size",
            self.batch_size,
            "an integer >= 1 (or 0 for the model's default)",
        )
        _check(self.lr > 0, "train.lr", self.lr, "a number > 0")
        _check(self.weight_decay >= 0, "train.weight_decay", self.weight_decay, "a number >= 0")
        _check(self.local_epochs >= 1, "train.local_epochs", self.local_epochs, "an integer >= 1")


@dataclass
class FSLConfig:
    server_interval: int = 5
    """q, in local iterations: smashed activations go up when iteration % q == 0."""
    align_interval: int = 10
    """l, in rounds: FSL-SAGE aligns a client's aux head once per l rounds (see
    align_staleness; without client sampling, in rounds where round % l == 0)."""
    align_epochs: int = 100
    align_batch_size: int = 1000
    """Rows per alignment batch (true targets are scaled per batch, so any size is consistent)."""
    store_size: int = 1000
    """Smashed activation rows (samples) the server keeps per client for alignment (FIFO)."""
    server_order: Literal["interleaved", "client_major"] = "interleaved"
    """Order the server applies lazy updates in: upload slot by slot, or client by client."""
    async_align: bool = False
    """The server fits aux heads in the background; a client keeps its head for the rest of
    the round and uses the new one from its next participation on (reproducible)."""
    align_staleness: Literal["participations", "rounds"] = "participations"
    """Under client sampling, align a participating client when it has taken part in a
    multiple of l rounds ("participations") or when its head is l or more rounds old or it
    was never aligned ("rounds"); ALGORITHMS.md decision 13."""
    aux_lr: float = 1e-3
    """Adam learning rate of the auxiliary heads (no weight decay), as the reference uses."""

    def __post_init__(self) -> None:
        for key in (
            "server_interval",
            "align_interval",
            "align_epochs",
            "align_batch_size",
            "store_size",
        ):
            value = getattr(self, key)
            _check(value >= 1, f"fsl.{key}", value, "an integer >= 1")
        _check(self.aux_lr > 0, "fsl.aux_lr", self.aux_lr, "a number > 0")


MAX_MESSAGE_MIB = 2**20
"""1 TiB: far above any real message, far below what a byte count can hold."""


@dataclass
class WireConfig:
    activation_dtype: Literal["fp32", "fp16", "bf16", "int8"] = "fp32"
    """Dtype of smashed activations and cut-layer gradients on the wire (int8: per-row scale
    and minimum sent along, metered)."""
    max_message_mib: float = 1024.0
    """Largest payload a receiver accepts; bigger headers are rejected before allocating."""

    def __post_init__(self) -> None:
        _check(
            0 < self.max_message_mib <= MAX_MESSAGE_MIB,
            "wire.max_message_mib",
            self.max_message_mib,
            f"a number of MiB in (0, {MAX_MESSAGE_MIB}]",
        )


MAX_TIMEOUT_S = 7 * 24 * 3600
"""No single wait is legitimately longer; larger values overflow torch's timeout types."""


@dataclass
class RuntimeConfig:
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    """auto = NCCL when every rank has its own GPU, else Gloo on CPU."""
    timeout_s: float = 600.0
    """Bound on every blocking wait; must exceed the longest legitimate one
    (docs/running.md)."""
    threads_per_rank: int = 0
    """torch intra-op threads per rank; 0 = the node's cores divided by its ranks
    (LOCAL_WORLD_SIZE)."""
    verbose: bool = False
    """Let client hosts print their progress too."""
    averaging: Literal["exact", "reduce"] = "exact"
    """How client states reach the server at a round end. exact: one message per participant,
    summed on the server in client-id order (bitwise independent of the client layout).
    reduce: each host sums its participants' weighted states and one reduction per state
    carries the round's sum (deterministic for a given layout only). The meter counts the same
    logical traffic either way."""
    spill: bool = False
    """Keep each idle client's own state (optimizer moments, aux head) on disk rather than in
    memory, so a client host's memory is bounded by a round's participants, not by its clients
    (client_store.py); the server's per-client state too. Results are bitwise the same."""
    spill_dir: str = ""
    """Where spilled client state goes; empty = RUN_DIR/client_state. Otherwise (e.g. a
    node-local disk) a folder per run is made in it; resuming needs the same folder."""

    def __post_init__(self) -> None:
        _check(
            0 < self.timeout_s <= MAX_TIMEOUT_S,
            "runtime.timeout_s",
            self.timeout_s,
            f"a number of seconds in (0, {MAX_TIMEOUT_S}] (one week)",
        )
        _check(
            self.threads_per_rank >= 0,
            "runtime.threads_per_rank",
            self.threads_per_rank,
            "0 (auto) or >= 1",
        )


@dataclass
class EvalConfig:
    every: int = 1
    """Evaluate every this many rounds; the last round is always evaluated."""
    decode_samples: int = 8
    """Text datasets: distinct test MRs greedily decoded at each evaluation for the slot error
    rate (test_ser); 0 = none. Decoding costs a forward pass per token (no key/value cache)."""

    def __post_init__(self) -> None:
        _check(self.every >= 1, "eval.every", self.every, "an integer >= 1")
        _check(
            self.decode_samples >= 0, "eval.decode_samples", self.decode_samples, "an integer >= 0"
        )


@dataclass
class NetworkConfig:
    """A link profile for the simulated timeline (`timeline.py`, docs/timeline.md); with
    `up_mbps` > 0, metrics.jsonl rows gain `sim_round_s` and `cum_sim_s`."""

    up_mbps: float = 0.0
    """Each client's uplink, Mbit/s (10**6 bit/s); 0 = no profile (nothing simulated)."""
    down_mbps: float = 0.0
    """Each client's downlink, Mbit/s."""
    rtt_ms: float = 0.0
    """Round-trip time of a client's link; a message takes 8*bytes/bandwidth + rtt/2."""
    spread: float = 0.0
    """Sigma of a log-normal factor on each client's bandwidth, drawn from the seed; 0 = alike."""
    server_mbps: float = 0.0
    """The server's link, each way; 0 = never the bottleneck, else its transfers queue on it."""
    compute: Literal["measured", "declared"] = "measured"
    """Compute times: this run's measured ones, or the declared *_ms below (any machine)."""
    client_iter_ms: float = 0.0
    """Declared: a client's local iteration (1/3 forward, 2/3 update)."""
    server_step_ms: float = 0.0
    """Declared: the server's work on one uploaded batch."""
    align_ms: float = 0.0
    """Declared: one FSL-SAGE alignment fit."""
    client_slowdown: float = 1.0
    """Client compute times are multiplied by this (10 = a phone 10x slower than measured)."""

    def __post_init__(self) -> None:
        for key in (
            "up_mbps",
            "down_mbps",
            "rtt_ms",
            "spread",
            "server_mbps",
            "client_iter_ms",
            "server_step_ms",
            "align_ms",
        ):
            value = getattr(self, key)
            _check(value >= 0, f"network.{key}", value, "a number >= 0")
        _check(
            (self.up_mbps > 0) == (self.down_mbps > 0),
            "network.down_mbps",
            self.down_mbps,
            "a number > 0 when network.up_mbps is set (both, or neither for no profile)",
        )
        _check(
            self.client_slowdown > 0,
            "network.client_slowdown",
            self.client_slowdown,
            "a number > 0",
        )

    @property
    def enabled(self) -> bool:
        return self.up_mbps > 0


NAME_MAX_BYTES = 255
"""The longest file name Linux file systems take (NAME_MAX)."""


def _has_control_chars(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


@dataclass
class OutputConfig:
    dir: str = "runs"
    name: str = ""
    """RUN_DIR = dir/name; empty = "<algorithm>-<launch time>". A relative path inside dir
    (subfolders allowed, ".." not)."""

    def __post_init__(self) -> None:
        for key, value in (("output.dir", self.dir), ("output.name", self.name)):
            _check(not _has_control_chars(value), key, value, "a path without control characters")
            _check(
                all(len(part.encode()) <= NAME_MAX_BYTES for part in Path(value).parts),
                key,
                value,
                f"a path whose folder names are at most {NAME_MAX_BYTES} bytes long",
            )
        _check(
            not Path(self.name).is_absolute() and ".." not in Path(self.name).parts,
            "output.name",
            self.name,
            "a relative path inside output.dir (no leading / and no '..')",
        )


@dataclass
class CheckpointConfig:
    every: int = 0
    """Write a checkpoint every this many rounds; 0 = never."""

    def __post_init__(self) -> None:
        _check(self.every >= 0, "checkpoint.every", self.every, "0 (off) or >= 1")


@dataclass
class SlurmConfig:
    """`fsl-sage submit` settings: one Slurm task per rank (see fsl_sage_dist/submit.py)."""

    nodes: int = 1
    tasks_per_node: int = 0
    """0 = 1 + launch.client_hosts divided over the nodes."""
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_gb: float = 4.0
    """Memory per node, in GiB."""
    partition: str = ""
    """Empty = the cluster's default partition (likewise account and qos)."""
    time_min: int = 60
    """Time limit, in minutes; the job is signalled, checkpointed and requeued before it."""
    account: str = ""
    qos: str = ""
    folder: str = "slurm_logs"
    """submitit's folder: one subfolder per job id with the pickles and each task's log."""
    extra: list[str] = field(default_factory=list)
    """Extra sbatch parameters as "key=value" strings, e.g. ["constraint=a100"]."""
    signal_delay_s: int = 90
    """Seconds before the time limit at which Slurm signals the job to checkpoint and requeue."""

    def __post_init__(self) -> None:
        for key in ("nodes", "cpus_per_task", "time_min"):
            value = getattr(self, key)
            _check(value >= 1, f"slurm.{key}", value, "an integer >= 1")
        _check(
            self.tasks_per_node >= 0,
            "slurm.tasks_per_node",
            self.tasks_per_node,
            "0 (derived from launch.client_hosts) or >= 1",
        )
        _check(
            self.gpus_per_node >= 0, "slurm.gpus_per_node", self.gpus_per_node, "an integer >= 0"
        )
        _check(self.mem_gb > 0, "slurm.mem_gb", self.mem_gb, "a number of GiB > 0")
        _check(
            0 <= self.signal_delay_s < 60 * self.time_min,
            "slurm.signal_delay_s",
            self.signal_delay_s,
            f"0..{60 * self.time_min - 1} (below slurm.time_min in "
            "seconds, or the job is signalled as soon as it starts)",
        )
        for item in self.extra:
            _check(
                "=" in item and not item.startswith("="),
                "slurm.extra",
                item,
                'sbatch parameters as "key=value" strings, e.g. ["constraint=a100"]',
            )


@dataclass
class Config:
    algorithm: Literal["fedavg", "splitfed_v1", "splitfed_v2", "cse_fsl", "fsl_sage"] = "fsl_sage"
    rounds: int = 200
    seed: int = 200
    clients: ClientsConfig = field(default_factory=ClientsConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    fsl: FSLConfig = field(default_factory=FSLConfig)
    wire: WireConfig = field(default_factory=WireConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)

    def __post_init__(self) -> None:
        _check(self.rounds >= 1, "rounds", self.rounds, "an integer >= 1")
        _check(self.seed >= 0, "seed", self.seed, "an integer >= 0")
        if self.train.batch_size == 0:
            self.train.batch_size = DEFAULT_BATCH_SIZE[self.model.name]
        _check(
            self.launch.client_hosts <= self.clients.num,
            "launch.client_hosts",
            self.launch.client_hosts,
            f"at most clients.num={self.clients.num} (a host with "
            "no client would idle); lower launch.client_hosts or raise clients.num",
        )

    @property
    def world_size(self) -> int:
        return 1 + self.launch.client_hosts

    @property
    def run_dir(self) -> Path:
        return Path(self.output.dir) / self.output.name


# ---------------------------------------------------------------------------------------------
# Building a Config from nested dicts, with one clear line per mistake.


def _describe(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(c) for c in get_args(tp))
    if get_origin(tp) is list:
        return f"a list of {get_args(tp)[0].__name__}"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def _coerce(key: str, value: Any, tp: Any) -> Any:
    origin = get_origin(tp)
    if origin is Literal:
        _check(value in get_args(tp), key, value, _describe(tp))
        return value
    if origin is list:
        (item_tp,) = get_args(tp)
        _check(isinstance(value, list), key, value, _describe(tp))
        return [_coerce(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp is float and isinstance(value, float):
        # NaN and Infinity pass every `>` check by accident or not at all, and JSON has neither
        _check(math.isfinite(value), key, value, "a finite number")
        return value
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    _check(ok, key, value, _describe(tp))
    return value


def choices(key: str) -> tuple[str, ...]:
    """The values a `Literal` key accepts, e.g. `choices("data.name")`."""
    cls, *path, name = [Config, *key.split(".")]
    for section in path:
        cls = typing.get_type_hints(cls)[section]
    return get_args(typing.get_type_hints(cls)[name])


def _unknown_key(key: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown config key {key!r}{hint} (valid here: {', '.join(valid)})")


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = prefix + name
        if name not in names:
            raise _unknown_key(key, names)
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            _check(isinstance(value, dict), key, value, f"a table of {tp.__name__} keys")
            kwargs[name] = _build(tp, value, key + ".")
        else:
            kwargs[name] = _coerce(key, value, tp)
    return cls(**kwargs)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. rounds=5)")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word such as model.cut=layer2 is meant as a string
    return key.strip().split("."), value


def _set_dotted(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(path)}: {part!r} is a value, not a section")
        node = child
    node[path[-1]] = value


def config_from_dict(data: dict[str, Any]) -> Config:
    try:
        return _build(Config, data)
    except TypeError as err:  # a required nesting mismatch the checks above did not name
        raise ConfigError(str(err)) from err


def _read_toml(path: Path) -> dict[str, Any]:
    name = repr(str(path))
    if not path.exists():
        raise ConfigError(f"config file {name} not found")
    if not path.is_file():  # a directory, or a FIFO that would block the read forever
        raise ConfigError(f"config file {name} is not a regular file; give a .toml file")
    try:
        return tomllib.loads(path.read_bytes().decode())
    except OSError as err:
        raise ConfigError(f"cannot read config file {name}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {name} is not UTF-8 text ({err.reason} at byte "
            f"{err.start}); TOML files are UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {name} is not valid TOML: {err}") from None


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """The config at `path` (or the built-in default) with `key=value` overrides applied."""
    data = {} if path is None else _read_toml(Path(path))
    for text in overrides:
        key, value = _parse_override(text)
        _set_dotted(data, key, value)
    return config_from_dict(data)


def config_to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def to_toml(data: dict[str, Any]) -> str:
    """Serialise a config dict (scalars, lists of scalars, nested tables) as TOML."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        # TOML strings may not hold control characters raw
        return (
            '"' + "".join(f"\\u{ord(c):04x}" if _has_control_chars(c) else c for c in escaped) + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
