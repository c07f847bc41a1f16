"""What each algorithm's schedule is, as data every part reads: the algorithms themselves, the
server role, the dry run, the closed-form byte count and the timeline.

    spec = SPECS[cfg.algorithm]
    spec.upload_interval(cfg.fsl)    # 1, q or None
    spec.whole_turns(cfg.fsl)        # clients take whole turns in ascending id

Torch-free, so the timeline and the dry run can read it without loading torch. A sixth
algorithm adds one entry here and one class in `algorithms/`; nothing else compares names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


class FSLSettings(Protocol):
    """The part of the `[fsl]` section a schedule depends on (config.FSLConfig)."""

    server_interval: int
    server_order: str
    async_align: bool


@dataclass(frozen=True)
class FSLSchedule:
    """`FSLSettings` as a value: what a `Plan` keeps of the `[fsl]` section."""

    server_interval: int
    server_order: str
    async_align: bool


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    uploads: Literal["every", "every_q", "never"]
    """Smashed batches go up every iteration, every q-th (fsl.server_interval), or never."""
    waits_for_cut_grad: bool
    """The client blocks on the server's cut-layer gradient of each upload (SplitFed)."""
    turns: Literal["lockstep", "whole", "server_order"]
    """Clients advance together iteration by iteration, take whole turns in ascending id, or do
    what fsl.server_order says (client_major: whole turns)."""
    averaged: tuple[str, ...]
    """Client-side state categories averaged at every round end (metered up and down)."""
    full_model_on_client: bool = False
    """The client trains (and averages as client_model) the whole model: FedAvg."""
    aligns: bool = False
    """The server fits each client's aux head to true cut gradients and sends it down."""
    async_capable: bool = False
    """Its alignment fits may run beside the server's steps (fsl.async_align)."""
    server_round_end_work: bool = False
    """The server does timed work of its own after averaging (SplitFed-v1's server copies)."""
    server_models: Literal["none", "shared", "per_client"] = "shared"
    """What server part the server trains: none (FedAvg), one shared by every client, or one
    copy per participant beside the averaged one (SplitFed-v1). For the memory meter."""
    aux_trained_by: Literal["none", "client", "server"] = "none"
    """Who trains the aux head (and so holds its gradients and Adam state): nobody (no aux
    head), the client on its own loss (CSE-FSL), or the server's alignment fits (FSL-SAGE, whose
    client holds the head's weights only)."""

    def upload_interval(self, fsl: FSLSettings) -> int | None:
        return {"every": 1, "every_q": fsl.server_interval, "never": None}[self.uploads]

    def uploads_at(self, fsl: FSLSettings, it: int) -> bool:
        interval = self.upload_interval(fsl)
        return interval is not None and it % interval == 0

    def whole_turns(self, fsl: FSLSettings) -> bool:
        if self.turns == "server_order":
            return fsl.server_order == "client_major"
        return self.turns == "whole"

    def async_fit(self, fsl: FSLSettings) -> bool:
        return self.async_capable and fsl.async_align

    def metered(self) -> frozenset[tuple[str, str]]:
        """The (category, direction) pairs a run meters (`wire/meter.py`), from the fields
        above: every round meters all of them except an aligning algorithm's aux_model down,
        which only alignment rounds carry (round 0 is one).

        Every point-to-point message also meters its header as `control` in its direction;
        averaged states come down as a broadcast, which has none, while their upload (or its
        reduction) is metered as a message."""
        pairs = {("control", "up")}
        pairs |= {(category, way) for category in self.averaged for way in ("up", "down")}
        if self.uploads != "never":
            pairs |= {("activations", "up"), ("labels", "up")}
        if self.waits_for_cut_grad:
            pairs |= {("cut_grads", "down"), ("control", "down")}
        if self.aligns:
            pairs |= {("aux_model", "down"), ("control", "down")}
        return frozenset(pairs)


SPECS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec(
            "fedavg",
            "never",
            False,
            "lockstep",
            ("client_model",),
            full_model_on_client=True,
            server_models="none",
        ),
        AlgorithmSpec(
            "splitfed_v1",
            "every",
            True,
            "lockstep",
            ("client_model",),
            server_round_end_work=True,
            server_models="per_client",
        ),
        AlgorithmSpec("splitfed_v2", "every", True, "whole", ("client_model",)),
        AlgorithmSpec(
            "cse_fsl",
            "every_q",
            False,
            "server_order",
            ("client_model", "aux_model"),
            aux_trained_by="client",
        ),
        AlgorithmSpec(
            "fsl_sage",
            "every_q",
            False,
            "server_order",
            ("client_model",),
            aligns=True,
            async_capable=True,
            aux_trained_by="server",
        ),
    )
}
