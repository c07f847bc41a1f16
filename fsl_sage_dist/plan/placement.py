"""Where clients live, and which of them take part in a round.

Both are pure functions of the config, so every rank derives the same answer without a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from fsl_sage_dist.plan.seeds import numpy_rng


@dataclass(frozen=True)
class Placement:
    """N clients round-robin over H client hosts: client c lives on rank 1 + c mod H."""

    num_clients: int
    num_hosts: int

    def host_of(self, client: int) -> int:
        return 1 + client % self.num_hosts

    def clients_on(self, host: int) -> list[int]:
        return [c for c in range(self.num_clients) if self.host_of(c) == host]

    def hosts_of(self, clients: list[int]) -> list[list[int]]:
        """`clients` grouped by host, each group ascending, hosts ascending, empty ones left out:
        what each host runs of a round's participants."""
        by_host: dict[int, list[int]] = {}
        for c in sorted(clients):
            by_host.setdefault(self.host_of(c), []).append(c)
        return [by_host[h] for h in sorted(by_host)]


def participants(seed: int, round_: int, num_clients: int, per_round: int) -> list[int]:
    """The round's clients, ascending: all of them, or `per_round` drawn without replacement
    from a stream derived from (seed, round), so a resumed run draws the same sets."""
    if per_round in (0, num_clients):
        return list(range(num_clients))
    chosen = numpy_rng(seed, "sampling", round_).choice(num_clients, per_round, replace=False)
    return sorted(int(c) for c in chosen)
