"""`fsl-sage run ... --dry-run`: what a run would do, printed without starting a rank.

The resolved config, where each client lives, the model's split sizes and the closed-form
payload per round (`algorithms/expected_bytes.py`), all from the same builders a real run uses:
the same partition, the same seeded model, the same batch cutting.
"""

from __future__ import annotations

from fsl_sage_dist.algorithms.expected_bytes import (
    CATEGORIES,
    ModelBytes,
    client_round_payload,
    total,
)
from fsl_sage_dist.config import Config
from fsl_sage_dist.data import batch_sizes
from fsl_sage_dist.plan import SPECS, Placement, Plan
from fsl_sage_dist.plan.schedule import AlignSchedule
from fsl_sage_dist.report.describe import describe_model
from fsl_sage_dist.runtime.build import build_template, load_split, partition
from fsl_sage_dist.text_table import align
from fsl_sage_dist.units import MIB


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
            "dry run: nothing was started and RUN_DIR was not created",
        ]
    )
