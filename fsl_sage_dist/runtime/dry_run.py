"""`fsl-sage run ... --dry-run`: what a run would do, printed without starting a rank.

The resolved config, where each client lives, the model's split sizes and the closed-form
payload per round (`algorithms/expected_bytes.py`), all from the same builders a real run uses:
the same partition, the same seeded model, the same batch cutting.
"""

from __future__ import annotations

import torch
from torch import nn

from fsl_sage_dist.algorithms.expected_bytes import (
    CATEGORIES,
    ModelBytes,
    client_round_payload,
    total,
)
from fsl_sage_dist.config import Config
from fsl_sage_dist.data import ImageSet, batch_sizes
from fsl_sage_dist.memory.closed_form import (
    SHAPE_PARTS,
    activation_bytes_per_sample,
    client_parts,
    server_parts,
)
from fsl_sage_dist.models import SplitModel
from fsl_sage_dist.plan import SPECS, Placement, Plan
from fsl_sage_dist.plan.schedule import AlignSchedule
from fsl_sage_dist.report.describe import describe_model
from fsl_sage_dist.runtime.build import build_template, load_split, partition
from fsl_sage_dist.text_table import align
from fsl_sage_dist.units import KIB, MIB


def placement_lines(cfg: Config) -> list[str]:
    placement = Placement(cfg.clients.num, cfg.launch.client_hosts)
    lines = [f"rank 0: server ({cfg.algorithm})"]
    for host in range(1, cfg.world_size):
        clients = placement.clients_on(host)
        shown = ", ".join(map(str, clients[:12])) + (", ..." if len(clients) > 12 else "")
        lines.append(f"rank {host}: client host, {len(clients)} clients [{shown}]")
    return lines


def round_payload(
    cfg: Config, sizes: list[int], model: ModelBytes, aligned: bool
) -> dict[str, dict[str, int]]:
    """Payload of a round in which every client takes part, summed over clients."""
    summed = {c: {"up": 0, "down": 0} for c in CATEGORIES}
    for n in sizes:
        batches = batch_sizes(n, cfg.train.batch_size) * cfg.train.local_epochs
        one = client_round_payload(
            SPECS[cfg.algorithm], cfg.fsl, batches, model, cfg.wire.activation_dtype, aligned
        )
        for cat in CATEGORIES:
            for d in ("up", "down"):
                summed[cat][d] += one[cat][d]
    return summed


def bytes_lines(cfg: Config, sizes: list[int], model: ModelBytes) -> list[str]:
    aligns = SPECS[cfg.algorithm].aligns
    kinds = [("every round", False)]
    if aligns:
        kinds = [("round without alignment", False), ("alignment round", True)]
    share = (cfg.clients.per_round or cfg.clients.num) / cfg.clients.num
    rows = [["payload MiB per round", *CATEGORIES, "total"]]
    for name, aligned in kinds:
        counted = round_payload(cfg, sizes, model, aligned)
        rows.append(
            [
                name,
                *(f"{share * sum(counted[c].values()) / MIB:.2f}" for c in CATEGORIES),
                f"{share * total(counted) / MIB:.2f}",
            ]
        )
    plain = share * total(round_payload(cfg, sizes, model, False))
    extra = model.aux * alignments(cfg) if aligns else 0
    approx = "" if share == 1 else "about "
    note = (
        f"over {cfg.rounds} rounds: {approx}{(plain * cfg.rounds + extra) / MIB:,.1f} MiB "
        f"payload ({cfg.clients.per_round or cfg.clients.num} of {cfg.clients.num} "
        "clients per round)"
    )
    return [align(rows, rule=True), note]


def alignments(cfg: Config) -> int:
    """Aux heads sent over the whole run: the run's participants fed to the schedule the ranks
    keep (`plan/schedule.py`), so either `fsl.align_staleness` rule and sampling count exactly."""
    plan = Plan.of(cfg)
    schedule = AlignSchedule(cfg.fsl.align_interval, cfg.fsl.align_staleness)
    return sum(len(schedule.start_round(t, plan.participants(t))) for t in range(cfg.rounds))


def memory_lines(cfg: Config, template: SplitModel, train: ImageSet) -> list[str]:
    """Each side's shape-determined memory once every model has stepped (`memory/closed_form`),
    and what autograd saves per sample in the forward pass of each model a side trains,
    probed on one training sample (a batch holds `train.batch_size` times that)."""
    spec = SPECS[cfg.algorithm]
    participants = cfg.clients.per_round or cfg.clients.num
    x, _ = train.batch(torch.arange(1))
    with torch.no_grad():
        smashed = template.client(x)
    server_model = None if spec.server_models == "none" else template.server

    def row(
        side: str, parts: dict[str, int], model: nn.Module | None, example: torch.Tensor
    ) -> list[str]:
        saved = "-" if model is None else _kib(activation_bytes_per_sample(model, example))
        return [side, *(f"{parts[p] / MIB:.2f}" for p in SHAPE_PARTS), saved]

    rows = [
        ["MiB", *SHAPE_PARTS, "saved KiB/sample"],
        row(
            "client",
            client_parts(spec, template),
            template.client_side(spec.full_model_on_client),
            x,
        ),
        row("server", server_parts(spec, template, participants), server_model, smashed),
    ]
    lines = [align(rows, rule=True), f"server: {participants} participants per round"]
    if spec.aux_trained_by != "none":
        aux = activation_bytes_per_sample(template.aux, smashed)
        lines.append(f"aux head: {_kib(aux)} KiB saved per sample in its forward pass")
    if spec.aux_trained_by == "server":
        rows_mib = cfg.fsl.store_size * participants * smashed[0].nbytes / MIB
        lines.append(
            f"server stores: up to {cfg.fsl.store_size} smashed rows per participant, "
            f"{rows_mib:.2f} MiB for {participants}"
        )
    return lines


def _kib(nbytes: int) -> str:
    return f"{nbytes / KIB:.1f}"


def dry_run_report(cfg: Config) -> str:
    train = load_split(cfg, "train")
    parts = partition(cfg, train)
    template = build_template(cfg, train)
    model = ModelBytes.of(template)
    sizes = [len(p) for p in parts]
    return "\n".join(
        [
            "# resolved config",
            cfg.to_toml().rstrip(),
            "",
            "# placement",
            *placement_lines(cfg),
            "",
            "# model",
            describe_model(cfg.model.name, template),
            f"clients hold {min(sizes)}..{max(sizes)} samples ({sum(sizes)} in all)",
            "",
            "# closed-form bytes",
            *bytes_lines(cfg, sizes, model),
            "",
            "# closed-form memory (per side, as if each client had its own device)",
            *memory_lines(cfg, template, train),
            "",
            "dry run: nothing was started and RUN_DIR was not created",
        ]
    )
