"""TensorBoard events for a run, written by the server rank straight into RUN_DIR/tb/.

    tensorboard --logdir OUTPUT_DIR        # every run under output.dir, side by side

Each round's metrics.jsonl record becomes these scalars (MiB = 2**20 bytes, KiB = 2**10):

    tag                               step                 value
    eval/acc, eval/loss               round (0-based)      test accuracy (0..1) / loss; only
                                                           rounds that were evaluated
    eval/acc_vs_cum_kib               cumulative payload   test accuracy, so TensorBoard's x axis
                                      KiB (rounded down)   ("Step") reads as KiB sent so far
    train/loss                        round                mean training loss of the round
    comm/<up|down>/<category>_mib     round                this round's MiB of that category
    comm/round_payload_mib            round                this round's payload / wire MiB
    comm/round_wire_mib
    comm/cum_payload_mib              round                cumulative payload / wire MiB
    comm/cum_wire_mib
    time/round_s                      round                `round_s` of metrics.jsonl
    time/sim_round_s                  round                `sim_round_s`: the round's simulated
                                                           seconds on the configured network
                                                           profile (only with one, network.*)
    eval/acc_vs_sim_s                 cumulative simulated test accuracy against `cum_sim_s`
                                      seconds (rounded     (only with a network profile)
                                      down)
    memory/client_peak_mib            round                the round's largest client peak and
    memory/server_peak_mib                                 the server's (`memory` of the record)

`round` is the same 0-based number as in metrics.jsonl. TensorBoard steps are integers, hence
KiB (not MiB) for the bytes axis: consecutive rounds never share a step. Payload and wire are
defined in DESIGN.md section 3. The resolved config is stored as text under the tag `config`.

On resume, pass `rebuild_from=` the records metrics.jsonl kept: the old event files are replaced
by those records, so rounds that a crash threw away (and that run again) never show twice.
TensorBoard's own `purge_step` cannot do this: it cuts every tag at one step, and the KiB steps
of `eval/acc_vs_cum_kib` are not rounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fsl_sage_dist.units import KIB, MIB


def round_scalars(record: dict[str, Any]) -> dict[str, float]:
    """The round-stepped scalars of one metrics.jsonl record; None values are left out."""
    values: dict[str, float | None] = {
        "eval/acc": record["test_acc"],
        "eval/loss": record["test_loss"],
        "train/loss": record["train_loss"],
        "comm/round_payload_mib": record["round_payload_bytes"] / MIB,
        "comm/round_wire_mib": record["round_wire_bytes"] / MIB,
        "comm/cum_payload_mib": record["cum_payload_bytes"] / MIB,
        "comm/cum_wire_mib": record["cum_wire_bytes"] / MIB,
        "time/round_s": record["round_s"],
        "time/sim_round_s": record.get("sim_round_s"),
        # language models only (docs/llm.md)
        "eval/ppl": record.get("test_ppl"),
        "eval/slot_error_rate": record.get("test_ser"),
    }
    memory = record.get("memory")
    if memory:
        values["memory/client_peak_mib"] = memory["client_peak_bytes"] / MIB
        values["memory/server_peak_mib"] = memory["server_peak_bytes"] / MIB
    for category, by_direction in record["bytes"].items():
        for direction, nbytes in by_direction.items():
            values[f"comm/{direction}/{category}_mib"] = nbytes / MIB
    return {tag: float(v) for tag, v in values.items() if v is not None}


class TensorBoardLogger:
    def __init__(
        self, log_dir: Path, config_text: str, rebuild_from: list[dict[str, Any]] | None = None
    ) -> None:
        # Imported here so ranks that never write events do not pay for TensorBoard's import.
        from torch.utils.tensorboard import SummaryWriter

        if rebuild_from is not None:
            for old in log_dir.glob("events.out.tfevents.*"):
                old.unlink()
        self.writer = SummaryWriter(log_dir=str(log_dir))
        # Four-space indent: TensorBoard renders text as Markdown; this keeps the TOML verbatim.
        self.writer.add_text("config", "\n".join("    " + ln for ln in config_text.splitlines()))
        for record in rebuild_from or []:
            self.log_round(record)

    def log_round(self, record: dict[str, Any]) -> None:
        step = record["round"]
        for tag, value in round_scalars(record).items():
            self.writer.add_scalar(tag, value, step)
        if record["test_acc"] is not None:
            self.writer.add_scalar(
                "eval/acc_vs_cum_kib", record["test_acc"], record["cum_payload_bytes"] // KIB
            )
            if record.get("cum_sim_s") is not None:
                self.writer.add_scalar(
                    "eval/acc_vs_sim_s", record["test_acc"], int(record["cum_sim_s"])
                )
        self.writer.flush()  # a live `tensorboard` sees each round as soon as it ends

    def close(self) -> None:
        self.writer.close()
