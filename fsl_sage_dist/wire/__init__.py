"""The wire: headers, typed messages, the channel that sends them, and the byte meter."""

from fsl_sage_dist.wire.channel import Channel, PendingRecv
from fsl_sage_dist.wire.header import Expect, Header, Kind, ProtocolError
from fsl_sage_dist.wire.messages import (
    SERVER_RANK,
    SmashedBatch,
    irecv_state,
    recv_cut_grad,
    recv_smashed,
    recv_state,
    send_cut_grad,
    send_smashed,
    send_state,
)
from fsl_sage_dist.wire.meter import ByteMeter, counts_to_bytes, payload_bytes, wire_bytes
from fsl_sage_dist.wire.state import flatten_state, load_flat_state
from fsl_sage_dist.wire.transport import DistTransport, Transport

__all__ = [
    "SERVER_RANK",
    "ByteMeter",
    "Channel",
    "DistTransport",
    "PendingRecv",
    "Expect",
    "Header",
    "Kind",
    "ProtocolError",
    "SmashedBatch",
    "counts_to_bytes",
    "flatten_state",
    "irecv_state",
    "load_flat_state",
    "payload_bytes",
    "recv_cut_grad",
    "recv_smashed",
    "recv_state",
    "send_cut_grad",
    "send_smashed",
    "send_state",
    "Transport",
    "wire_bytes",
]
