"""The schema: one dataclass section per component, each field with its default, its rules
(`rules.py`) and a docstring that gives its unit.

A choice (algorithm, dataset, partition, model, cut, stem, wire dtype) is declared once here, as
a `Literal`, so this leaf stays free of torch and of the components it configures; each choice
names an implementation in its component's registry, and tests/test_choices.py checks that the
two lists are equal, so no choice passes validation only to fail in a rank.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fsl_sage_dist.config.rules import (
    Section,
    above,
    at_least,
    bounded,
    check,
    number_at_least,
    rule,
    sizes,
    together,
    within,
)
from fsl_sage_dist.config.toml_out import has_control_chars, to_toml
from fsl_sage_dist.wire.limits import MAX_MESSAGE_MIB


@dataclass
class ClientsConfig(Section, key="clients"):
    num: int = bounded(10, at_least(1))
    """Number of clients N."""
    per_round: int = bounded(0, within(0, "num", "0 (all) or 1..clients.num={high}"))
    """Clients sampled per round (K of N, seeded); 0 = all clients every round."""


@dataclass
class LaunchConfig(Section, key="launch"):
    client_hosts: int = bounded(2, at_least(1))
    """Client-host ranks H (world size = 1 + H); clients are placed round-robin on them."""
    max_restarts: int = bounded(0, at_least(0))
    """Restarts the built-in launcher allows a failed job (resumes from the last checkpoint)."""


@dataclass
class DataConfig(Section, key="data"):
    name: Literal[
        "synthetic", "fashion_mnist", "cifar10", "cifar100", "e2e_synthetic", "e2e_nlg"
    ] = "fashion_mnist"
    root: str = ""
    """Folder holding an existing copy of the dataset; empty = well-known places, then download."""
    partition: Literal["iid", "shards", "dirichlet", "dirichlet_equal"] = "iid"
    """dirichlet: each class split over clients by Dir(alpha) proportions (client sizes
    differ); dirichlet_equal: the paper's reference, equal client sizes, each client's class
    mix ~ Dir(alpha) (the paper's alpha sweeps use this one)."""
    alpha: float = bounded(0.5, above(0))
    """Dirichlet concentration (smaller = more label skew); used by both dirichlet schemes."""
    shards_per_client: int = bounded(2, at_least(1))
    train_limit: int = bounded(0, at_least(0, "0 (no cap) or > 0"))
    """Cap on the total number of training samples before partitioning; 0 = no cap."""
    synthetic_shape: list[int] = bounded([1, 28, 28], sizes(3, "[channels, height, width]"))
    num_classes: int = bounded(10, at_least(2))
    """Classes of the synthetic dataset (real datasets have their own)."""
    synthetic_size: list[int] = bounded([2000, 500], sizes(2, "[train, test] sample counts"))
    """[train, test] samples of the synthetic dataset."""
    augment: bool = False
    """Random crop + horizontal flip on training batches (meant for CIFAR)."""
    seq_len: int = bounded(256, at_least(2))
    """Tokens per row of a text dataset (e2e_*): prompt + target, right-padded or cut."""


@dataclass
class ModelConfig(Section, key="model"):
    name: Literal["simple_conv", "resnet18", "gpt2"] = "simple_conv"
    cut: Literal["layer1", "layer2", "layer3"] = "layer2"
    """Last ResNet layer on the client (resnet18 only)."""
    stem: Literal["imagenet", "cifar"] = "imagenet"
    """ResNet stem: 7x7/2 conv + max-pool (the paper's) or 3x3/1 conv without pooling."""
    gpt2_config: Literal["tiny", "small", "medium"] = "tiny"
    """GPT-2 shape (gpt2 only): tiny = 4 blocks, d 128, 4 heads, context 256 (for CPU);
    small and medium = OpenAI's. Ignored when `pretrained` is set."""
    cut_blocks: int = bounded(1, at_least(1))
    """Transformer blocks on the client (gpt2 only); the server has the rest."""
    aux_blocks: int = bounded(3, at_least(1))
    """Transformer blocks of the aux head (gpt2 only)."""
    pretrained: str = ""
    """gpt2 only: a folder written by transformers' `save_pretrained` (its tokenizer, if saved
    there, replaces the byte-level one), or a hub name where a network exists; empty = weights
    drawn from the seed."""


@dataclass
class LoRAConfig(Section, key="lora"):
    """LoRA on the attention query and value projections of a language model (gpt2 only)."""

    r: int = bounded(4, at_least(1))
    alpha: float = bounded(32.0, above(0))
    dropout: float = bounded(0.0, within(0, 1, "a number in [{low}, {high})", high_open=True))
    """The reference uses 0.1; dropout draws from torch's global generator, so a run with
    dropout > 0 is not bitwise reproducible (nor layout-invariant)."""


LEARNING_RATE = within(0, 1.0, "an Adam learning rate in ({low}, {high}]", low_open=True)
"""Adam's step is about lr per parameter whatever the gradient's scale: above 1 a model only
diverges, and far above it (1e40) torch fails inside the optimizer instead."""


@dataclass
class TrainConfig(Section, key="train"):
    batch_size: int = bounded(0, at_least(0, "an integer >= 1 (or 0 for the model's default)"))
    """Samples per local iteration; 0 (unset) = the model's default (the model registry's
    DEFAULT_BATCH_SIZE, `models/defaults.py`), which the resolved config.toml then records."""
    lr: float = bounded(1e-3, LEARNING_RATE)
    """Adam learning rate for client and server models."""
    weight_decay: float = bounded(1e-4, number_at_least(0))
    local_epochs: int = bounded(1, at_least(1))


@dataclass
class FSLConfig(Section, key="fsl"):
    server_interval: int = bounded(5, at_least(1))
    """q, in local iterations: smashed activations go up when iteration % q == 0."""
    align_interval: int = bounded(10, at_least(1))
    """l, in rounds: FSL-SAGE aligns a client's aux head once per l rounds (see
    align_staleness; without client sampling, in rounds where round % l == 0)."""
    align_epochs: int = bounded(100, at_least(1))
    align_batch_size: int = bounded(1000, at_least(1))
    """Rows per alignment batch (true targets are scaled per batch, so any size is consistent)."""
    store_size: int = bounded(1000, at_least(1))
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
    aux_lr: float = bounded(1e-3, LEARNING_RATE)
    """Adam learning rate of the auxiliary heads (no weight decay), as the reference uses."""


IN_MIB = "a number of MiB in (0, {high}]"


@dataclass
class WireConfig(Section, key="wire"):
    activation_dtype: Literal["fp32", "fp16", "bf16", "int8"] = "fp32"
    """Dtype of smashed activations and cut-layer gradients on the wire (int8: per-row scale
    and minimum sent along, metered)."""
    max_message_mib: float = bounded(1024.0, within(0, MAX_MESSAGE_MIB, IN_MIB, low_open=True))
    """Largest payload a receiver accepts; bigger headers are rejected before allocating."""


MAX_TIMEOUT_S = 7 * 24 * 3600
"""No single wait is legitimately longer; larger values overflow torch's timeout types."""
IN_A_WEEK = "a number of seconds in (0, {high}] (one week)"


@dataclass
class RuntimeConfig(Section, key="runtime"):
    backend: Literal["auto", "gloo", "nccl"] = "auto"
    """auto = NCCL when every rank has its own GPU, else Gloo on CPU."""
    timeout_s: float = bounded(600.0, within(0, MAX_TIMEOUT_S, IN_A_WEEK, low_open=True))
    """Bound on every blocking wait; must exceed the longest legitimate one
    (docs/running.md)."""
    threads_per_rank: int = bounded(0, at_least(0, "0 (auto) or >= 1"))
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


@dataclass
class EvalConfig(Section, key="eval"):
    every: int = bounded(1, at_least(1))
    """Evaluate every this many rounds; the last round is always evaluated."""
    decode_samples: int = bounded(8, at_least(0))
    """Text datasets: distinct test MRs greedily decoded at each evaluation for the slot error
    rate (test_ser); 0 = none. Decoding costs a forward pass per token (no key/value cache)."""


BOTH_LINKS = "a number > 0 when network.up_mbps is set (both, or neither for no profile)"


@dataclass
class NetworkConfig(Section, key="network"):
    """A link profile for the simulated timeline (`timeline/`, docs/timeline.md); with
    `up_mbps` > 0, metrics.jsonl rows gain `sim_round_s` and `cum_sim_s`."""

    up_mbps: float = bounded(0.0, number_at_least(0))
    """Each client's uplink, Mbit/s (10**6 bit/s); 0 = no profile (nothing simulated)."""
    down_mbps: float = bounded(0.0, number_at_least(0), together("up_mbps", BOTH_LINKS))
    """Each client's downlink, Mbit/s."""
    rtt_ms: float = bounded(0.0, number_at_least(0))
    """Round-trip time of a client's link; a message takes 8*bytes/bandwidth + rtt/2."""
    spread: float = bounded(0.0, number_at_least(0))
    """Sigma of a log-normal factor on each client's bandwidth, drawn from the seed; 0 = alike."""
    server_mbps: float = bounded(0.0, number_at_least(0))
    """The server's link, each way; 0 = never the bottleneck, else its transfers queue on it."""
    compute: Literal["measured", "declared"] = "measured"
    """Compute times: this run's measured ones, or the declared *_ms below (any machine)."""
    client_iter_ms: float = bounded(0.0, number_at_least(0))
    """Declared: a client's local iteration (1/3 forward, 2/3 update)."""
    server_step_ms: float = bounded(0.0, number_at_least(0))
    """Declared: the server's work on one uploaded batch."""
    align_ms: float = bounded(0.0, number_at_least(0))
    """Declared: one FSL-SAGE alignment fit."""
    client_slowdown: float = bounded(1.0, above(0))
    """Client compute times are multiplied by this (10 = a phone 10x slower than measured)."""

    @property
    def enabled(self) -> bool:
        return self.up_mbps > 0


NAME_MAX_BYTES = 255
"""The longest file name Linux file systems take (NAME_MAX)."""

PATH_RULES = (
    rule(lambda v: not has_control_chars(v), "a path without control characters", ("a\x01b",)),
    rule(
        lambda v: all(len(part.encode()) <= NAME_MAX_BYTES for part in Path(v).parts),
        f"a path whose folder names are at most {NAME_MAX_BYTES} bytes long",
        ("x" * (NAME_MAX_BYTES + 1),),
    ),
)

INSIDE_DIR = rule(
    lambda v: not Path(v).is_absolute() and ".." not in Path(v).parts,
    "a relative path inside output.dir (no leading / and no '..')",
    ("/abs", "a/../b"),
)


@dataclass
class OutputConfig(Section, key="output"):
    dir: str = bounded("runs", *PATH_RULES)
    name: str = bounded("", *PATH_RULES, INSIDE_DIR)
    """RUN_DIR = dir/name; empty = "<algorithm>-<launch time>". A relative path inside dir
    (subfolders allowed, ".." not)."""


@dataclass
class CheckpointConfig(Section, key="checkpoint"):
    every: int = bounded(0, at_least(0, "0 (off) or >= 1"))
    """Write a checkpoint every this many rounds; 0 = never."""


SBATCH_PARAMETER = rule(
    lambda item: "=" in item and not item.startswith("="),
    'sbatch parameters as "key=value" strings, e.g. ["constraint=a100"]',
    (["=x"], ["x"]),
    each=True,
)
SIGNAL_WINDOW = (
    "0..{high} (below slurm.time_min in seconds, or the job is signalled as soon as it starts)"
)


@dataclass
class SlurmConfig(Section, key="slurm"):
    """`fsl-sage submit` settings: one Slurm task per rank (see fsl_sage_dist/submit.py)."""

    nodes: int = bounded(1, at_least(1))
    tasks_per_node: int = bounded(0, at_least(0, "0 (derived from launch.client_hosts) or >= 1"))
    """0 = 1 + launch.client_hosts divided over the nodes."""
    gpus_per_node: int = bounded(0, at_least(0))
    cpus_per_task: int = bounded(1, at_least(1))
    mem_gb: float = bounded(4.0, above(0, "a number of GiB > 0"))
    """Memory per node, in GiB."""
    partition: str = ""
    """Empty = the cluster's default partition (likewise account and qos)."""
    time_min: int = bounded(60, at_least(1))
    """Time limit, in minutes; the job is signalled, checkpointed and requeued before it."""
    account: str = ""
    qos: str = ""
    folder: str = "slurm_logs"
    """submitit's folder: one subfolder per job id with the pickles and each task's log."""
    extra: list[str] = bounded([], SBATCH_PARAMETER)
    """Extra sbatch parameters as "key=value" strings, e.g. ["constraint=a100"]."""
    signal_delay_s: int = bounded(90, within(0, lambda s: 60 * s.time_min - 1, SIGNAL_WINDOW))
    """Seconds before the time limit at which Slurm signals the job to checkpoint and requeue."""


IDLE_HOST = "(a host with no client would idle); lower launch.client_hosts or raise clients.num"


@dataclass
class Config(Section):
    algorithm: Literal["fedavg", "splitfed_v1", "splitfed_v2", "cse_fsl", "fsl_sage"] = "fsl_sage"
    rounds: int = bounded(200, at_least(1))
    seed: int = bounded(200, at_least(0))
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

    def check(self) -> None:
        hosts, num = self.launch.client_hosts, self.clients.num
        check(hosts <= num, "launch.client_hosts", hosts, f"at most clients.num={num} {IDLE_HOST}")

    @property
    def world_size(self) -> int:
        return 1 + self.launch.client_hosts

    @property
    def run_dir(self) -> Path:
        return Path(self.output.dir) / self.output.name

    def to_toml(self) -> str:
        """The resolved config as TOML: RUN_DIR/config.toml, the dry run, the ranks' fingerprint."""
        return to_toml(dataclasses.asdict(self))
