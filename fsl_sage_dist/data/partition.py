"""Splitting a training pool among clients: iid, label shards, or Dirichlet label skew (per
class, or the reference's equal-size per-client mixes).

All draws come from `numpy_rng(seed, "partition", ...)`, so every process that builds the
partition from the same labels and seed gets the same one without communicating.
"""

from __future__ import annotations

import numpy as np

from fsl_sage_dist.plan.seeds import numpy_rng

PARTITION_NAMES = ("iid", "shards", "dirichlet", "dirichlet_equal")
# Dirichlet draws that leave a client with fewer samples than this are redrawn.
MIN_CLIENT_SAMPLES = 1
DIRICHLET_MAX_TRIES = 100


def limit_indices(n_total: int, limit: int, seed: int) -> np.ndarray:
    """Sorted positions of the training pool: all of them for limit 0, else a seeded random
    subset of min(limit, n_total) samples (the cap applies before partitioning)."""
    if limit < 0:
        raise ValueError(f"data.train_limit must be >= 0 (0 means all samples), got {limit}")
    if limit == 0 or limit >= n_total:
        return np.arange(n_total, dtype=np.int64)
    chosen = numpy_rng(seed, "train_limit").choice(n_total, size=limit, replace=False)
    return np.sort(chosen).astype(np.int64)


def partition_indices(
    labels: np.ndarray,
    num_clients: int,
    scheme: str,
    seed: int,
    *,
    alpha: float = 0.5,
    shards_per_client: int = 2,
) -> list[np.ndarray]:
    """One sorted int64 array of positions into `labels` per client; clients are disjoint.

    - iid: floor(N/m) samples each, drawn without replacement; the N mod m remainder is unused.
    - shards: samples sorted by label (stable) and cut into m·k shards of floor(N/(m·k)), k
      random shards per client; the remainder at the end of the sorted order is unused.
    - dirichlet: per class, the class's shuffled samples are split among clients in proportions
      drawn from Dir(alpha) (Hsu et al. 2019, as Flower's DirichletPartitioner without
      self-balancing); every sample is used. A draw that leaves any client with fewer than
      MIN_CLIENT_SAMPLES samples is redrawn from the next derived seed, up to
      DIRICHLET_MAX_TRIES times, after which a ValueError says what to change.
    - dirichlet_equal: the paper's reference (`noniid_dirichlet`): floor(N/m) samples each,
      client i's class mix p_i ~ Dir(alpha·1_C), classes drawn from p_i without replacement;
      a class that runs out is zeroed for every client and the mixes renormalised. The
      N mod m remainder is unused. The paper's alpha sweeps use this one.
    """
    labels = np.asarray(labels)
    _validate(labels, num_clients, scheme, alpha, shards_per_client)
    if scheme == "iid":
        parts = _iid(len(labels), num_clients, seed)
    elif scheme == "shards":
        parts = _shards(labels, num_clients, shards_per_client, seed)
    elif scheme == "dirichlet":
        parts = _dirichlet(labels, num_clients, alpha, seed)
    else:
        parts = _dirichlet_equal(labels, num_clients, alpha, numpy_rng(seed, "partition"))
    return [np.sort(part).astype(np.int64) for part in parts]


def _validate(
    labels: np.ndarray, num_clients: int, scheme: str, alpha: float, shards_per_client: int
) -> None:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}"
        )
    if scheme not in PARTITION_NAMES:
        raise ValueError(f"unknown partition scheme {scheme!r}; choose one of {PARTITION_NAMES}")
    if num_clients < 1:
        raise ValueError(f"num_clients must be >= 1, got {num_clients}")
    if not np.isfinite(alpha):
        raise ValueError(f"data.alpha must be a finite number, got {alpha}")
    if alpha <= 0:
        raise ValueError(f"data.alpha must be > 0, got {alpha}")
    if shards_per_client < 1:
        raise ValueError(f"data.shards_per_client must be >= 1, got {shards_per_client}")
    check_partition_sizes(len(labels), num_clients, scheme, shards_per_client)


def check_partition_sizes(
    num_samples: int, num_clients: int, scheme: str, shards_per_client: int
) -> None:
    """The checks that need only the sample count (so they can run before any data loads)."""
    if num_clients > num_samples:
        raise ValueError(
            f"{num_clients} clients but only {num_samples} training samples; "
            "use fewer clients or raise data.train_limit"
        )
    num_shards = num_clients * shards_per_client
    if scheme == "shards" and num_samples < num_shards:
        raise ValueError(
            f"{num_samples} samples cannot fill {num_shards} shards ({num_clients} clients × "
            f"{shards_per_client}); lower data.shards_per_client or the number of clients"
        )


def _iid(n: int, num_clients: int, seed: int) -> list[np.ndarray]:
    per_client = n // num_clients
    order = numpy_rng(seed, "partition").permutation(n)
    return [order[i * per_client : (i + 1) * per_client] for i in range(num_clients)]


def _shards(
    labels: np.ndarray, num_clients: int, shards_per_client: int, seed: int
) -> list[np.ndarray]:
    num_shards = num_clients * shards_per_client
    shard_size = len(labels) // num_shards  # >= 1: checked by check_partition_sizes
    by_label = np.argsort(labels, kind="stable")
    shards = by_label[: num_shards * shard_size].reshape(num_shards, shard_size)
    shard_order = numpy_rng(seed, "partition").permutation(num_shards).reshape(num_clients, -1)
    return [shards[ids].ravel() for ids in shard_order]


def _dirichlet(labels: np.ndarray, num_clients: int, alpha: float, seed: int) -> list[np.ndarray]:
    for attempt in range(DIRICHLET_MAX_TRIES):
        parts = _dirichlet_draw(labels, num_clients, alpha, numpy_rng(seed, "partition", attempt))
        if min(len(part) for part in parts) >= MIN_CLIENT_SAMPLES:
            return parts
    raise ValueError(
        f"dirichlet partition with alpha={alpha} left some of the {num_clients} clients with fewer "
        f"than {MIN_CLIENT_SAMPLES} sample(s) in all {DIRICHLET_MAX_TRIES} draws of {len(labels)} "
        "samples; raise data.alpha, use fewer clients, or raise data.train_limit"
    )


def _dirichlet_draw(
    labels: np.ndarray, num_clients: int, alpha: float, rng: np.random.Generator
) -> list[np.ndarray]:
    pieces: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        proportions = rng.dirichlet(np.full(num_clients, alpha))
        cuts = (np.cumsum(proportions)[:-1] * len(members)).astype(np.int64)
        for client, piece in enumerate(np.split(members, cuts)):
            pieces[client].append(piece)
    return [np.concatenate(client_pieces) for client_pieces in pieces]


def _dirichlet_equal(
    labels: np.ndarray, num_clients: int, alpha: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Client by client, draw floor(N/m) classes from its mix and take the next sample of each
    from that class's shuffled pool. Drawing a client's classes as one multinomial and redrawing
    the draws that overflow an exhausted class from the renormalised mix is the same in
    distribution as drawing sample by sample, and much faster."""
    classes = np.unique(labels)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    taken = np.zeros(len(classes), dtype=np.int64)
    mixes = rng.dirichlet(np.full(len(classes), alpha), size=num_clients)
    per_client = len(labels) // num_clients
    parts = []
    for mix in mixes:
        pieces, needed = [], per_client
        while needed > 0:
            left = np.array([len(p) for p in pools]) - taken
            weights = np.where(left > 0, mix, 0.0)
            # A mix with all its mass on exhausted classes (possible for tiny alpha) falls back
            # to the classes that are left, evenly.
            weights = weights if weights.sum() > 0 else (left > 0).astype(float)
            counts = np.minimum(rng.multinomial(needed, weights / weights.sum()), left)
            for c in np.flatnonzero(counts):
                pieces.append(pools[c][taken[c] : taken[c] + counts[c]])
                taken[c] += counts[c]
            needed -= int(counts.sum())
        parts.append(np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64))
    return parts
