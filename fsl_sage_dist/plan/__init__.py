"""What every rank derives from the config alone, without a message: torch-free (numpy at
most), so the dry run and the timeline read the same facts the ranks act on.

    plan = Plan.of(cfg)                      # or Plan.of_dict(config.toml's tables)
    plan.spec.waits_for_cut_grad             # the algorithm's schedule (spec.py)
    plan.placement.host_of(client)           # where a client lives (placement.py)
    plan.participants(round_)                # who takes part in a round
    plan.upload_order(chosen, iterations)    # the order the server applies uploads in

Seeds (`seeds.py`), the step and upload orders and the FSL-SAGE alignment schedule
(`schedule.py`) are plain functions and classes beside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fsl_sage_dist.plan.placement import Placement, participants
from fsl_sage_dist.plan.schedule import upload_order
from fsl_sage_dist.plan.spec import SPECS, AlgorithmSpec, FSLSchedule

if TYPE_CHECKING:
    from fsl_sage_dist.config import Config

__all__ = ["SPECS", "AlgorithmSpec", "FSLSchedule", "Placement", "Plan", "participants"]


@dataclass(frozen=True)
class Plan:
    """A run's schedule: its algorithm's spec, the `[fsl]` settings it reads, the placement of
    clients on hosts, and the sampling of participants."""

    spec: AlgorithmSpec
    fsl: FSLSchedule
    placement: Placement
    seed: int
    per_round: int
    """`clients.per_round`: 0 (or N) for every client every round."""

    @classmethod
    def of(cls, cfg: Config) -> Plan:
        return cls.of_dict(
            {
                "algorithm": cfg.algorithm,
                "seed": cfg.seed,
                "clients": {"num": cfg.clients.num, "per_round": cfg.clients.per_round},
                "launch": {"client_hosts": cfg.launch.client_hosts},
                "fsl": dataclasses.asdict(cfg.fsl),
            }
        )

    @classmethod
    def of_dict(cls, config: Mapping[str, Any]) -> Plan:
        """From a resolved config as tables (a run's config.toml, `config_to_dict`); a key it
        lacks raises KeyError naming it."""
        fsl, clients = config["fsl"], config["clients"]
        return cls(
            SPECS[config["algorithm"]],
            FSLSchedule(fsl["server_interval"], fsl["server_order"], fsl["async_align"]),
            Placement(clients["num"], config["launch"]["client_hosts"]),
            config["seed"],
            clients["per_round"],
        )

    @property
    def num_clients(self) -> int:
        return self.placement.num_clients

    @property
    def whole_turns(self) -> bool:
        return self.spec.whole_turns(self.fsl)

    @property
    def async_fit(self) -> bool:
        return self.spec.async_fit(self.fsl)

    def uploads_at(self, it: int) -> bool:
        return self.spec.uploads_at(self.fsl, it)

    def participants(self, round_: int) -> list[int]:
        return participants(self.seed, round_, self.num_clients, self.per_round)

    def upload_order(
        self, chosen: Sequence[int], iterations: Callable[[int], int]
    ) -> list[tuple[int, int]]:
        """(client, iteration) of every upload of a round, in the order the server applies
        them; `chosen` ascending, `iterations(c)` client c's local iterations."""
        return upload_order(chosen, iterations, self.uploads_at, self.whole_turns)

    def with_client_hosts(self, hosts: int) -> Plan:
        """The same run placed on `hosts` client hosts (the timeline's one-device-per-client
        view)."""
        return dataclasses.replace(self, placement=Placement(self.num_clients, hosts))
