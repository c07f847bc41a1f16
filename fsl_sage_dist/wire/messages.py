"""Typed messages between a client and the server, on top of `Channel`.

Each function here is one message type of the protocol; the receiver states exactly what it
expects (kind, round, client, sequence number, dtype and shape), so a desynchronised peer is
caught at the header.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from fsl_sage_dist.wire.channel import Channel, PendingRecv
from fsl_sage_dist.wire.compression import WIRE_DTYPES, compress, decompress
from fsl_sage_dist.wire.header import Expect, Header, Kind

SERVER_RANK = 0


@dataclass
class SmashedBatch:
    """A client's cut-layer activations for one batch, with the labels the server needs."""

    client: int
    slot: int
    """Upload sequence number within the round (0, 1, ...)."""
    activations: torch.Tensor
    labels: torch.Tensor


def _send_compressed(
    channel: Channel,
    peer: int,
    kind: Kind,
    round_: int,
    client: int,
    slot: int,
    x: torch.Tensor,
    category: str,
    direction: str,
    row_ndim: int,
) -> None:
    """Activations or cut gradients at `wire.activation_dtype` (int8: values, then the scales
    of each row; see compression.py)."""
    for part_kind, part in zip(
        (kind, Kind.SCALES), compress(x, channel.activation_dtype, row_ndim)
    ):
        header = Header(part_kind, round_, client, slot, part.dtype, tuple(part.shape))
        channel.send(peer, header, part, category, direction)


def _recv_compressed(
    channel: Channel,
    peer: int,
    kind: Kind,
    round_: int,
    client: int,
    slot: int,
    shape: tuple[int, ...],
    category: str,
    direction: str,
    row_ndim: int,
    max_rows: int | None = None,
) -> torch.Tensor:
    mode = channel.activation_dtype
    values = channel.recv(
        peer,
        Expect(kind, round_, client, slot, (WIRE_DTYPES[mode],), shape, max_rows),
        category,
        direction,
    )
    parts = [values]
    if mode == "int8":
        rows = math.prod(values.shape[:row_ndim])
        parts.append(
            channel.recv(
                peer,
                Expect(Kind.SCALES, round_, client, slot, (torch.float32,), (rows, 2)),
                category,
                direction,
            )
        )
    return decompress(parts, mode)


def send_smashed(channel: Channel, round_: int, batch: SmashedBatch) -> None:
    _send_compressed(
        channel,
        SERVER_RANK,
        Kind.SMASHED,
        round_,
        batch.client,
        batch.slot,
        batch.activations,
        "activations",
        "up",
        batch.labels.dim(),
    )
    y = batch.labels
    channel.send(
        SERVER_RANK,
        Header(Kind.LABELS, round_, batch.client, batch.slot, y.dtype, tuple(y.shape)),
        y,
        "labels",
        "up",
    )


def recv_smashed(
    channel: Channel,
    host: int,
    round_: int,
    client: int,
    slot: int,
    cut_shape: tuple[int, ...],
    max_rows: int,
    label_shape: tuple[int, ...] = (),
) -> SmashedBatch:
    """A smashed batch of at most `max_rows` (train.batch_size) rows: a peer cannot make the
    server allocate more than one batch's worth per message. Each row has labels of
    `label_shape` (a class id: (); a language model's next-token targets: (T,))."""
    z = _recv_compressed(
        channel,
        host,
        Kind.SMASHED,
        round_,
        client,
        slot,
        (-1, *cut_shape),
        "activations",
        "up",
        1 + len(label_shape),
        max_rows,
    )
    y = channel.recv(
        host,
        Expect(Kind.LABELS, round_, client, slot, (torch.int64,), (z.shape[0], *label_shape)),
        "labels",
        "up",
    )
    return SmashedBatch(client, slot, z, y)


def send_cut_grad(
    channel: Channel,
    host: int,
    round_: int,
    client: int,
    slot: int,
    grad: torch.Tensor,
    row_ndim: int = 1,
) -> None:
    """`row_ndim`: the dimensions of the batch's labels (int8 rows, see compression.py)."""
    _send_compressed(
        channel, host, Kind.CUT_GRAD, round_, client, slot, grad, "cut_grads", "down", row_ndim
    )


def recv_cut_grad(
    channel: Channel, round_: int, client: int, slot: int, shape: tuple[int, ...], row_ndim: int = 1
) -> torch.Tensor:
    return _recv_compressed(
        channel,
        SERVER_RANK,
        Kind.CUT_GRAD,
        round_,
        client,
        slot,
        shape,
        "cut_grads",
        "down",
        row_ndim,
    )


STATE_KINDS = {"client_model": Kind.CLIENT_STATE, "aux_model": Kind.AUX_STATE}


def send_state(
    channel: Channel,
    peer: int,
    round_: int,
    client: int,
    category: str,
    flat: list[torch.Tensor],
    direction: str,
) -> None:
    """A model state as its flat per-dtype vectors (see `state.flatten_state`)."""
    for seq, vec in enumerate(flat):
        header = Header(STATE_KINDS[category], round_, client, seq, vec.dtype, tuple(vec.shape))
        channel.send(peer, header, vec, category, direction)


def _state_expect(round_: int, client: int, category: str, seq: int, like: torch.Tensor) -> Expect:
    return Expect(STATE_KINDS[category], round_, client, seq, (like.dtype,), tuple(like.shape))


def recv_state(
    channel: Channel,
    peer: int,
    round_: int,
    client: int,
    category: str,
    like: list[torch.Tensor],
    direction: str,
) -> list[torch.Tensor]:
    return [
        channel.recv(peer, _state_expect(round_, client, category, seq, v), category, direction)
        for seq, v in enumerate(like)
    ]


def irecv_state(
    channel: Channel,
    peer: int,
    round_: int,
    client: int,
    category: str,
    like: list[torch.Tensor],
    direction: str,
) -> list[PendingRecv]:
    """Like `recv_state`, but posted now and completed later (see `PendingRecv`)."""
    return [
        channel.irecv(peer, _state_expect(round_, client, category, seq, v), category, direction)
        for seq, v in enumerate(like)
    ]
