"""The wire: headers, typed messages, the channel that sends them, and the byte meter.

The names below are imported on first use, so the torch-free `wire.limits` can be read (by the
config) without loading torch.
"""

from fsl_sage_dist.first_use import names_on_first_use

_HOMES = {
    "Channel": "channel",
    "PendingRecv": "channel",
    "Expect": "header",
    "Header": "header",
    "Kind": "header",
    "ProtocolError": "header",
    "SERVER_RANK": "messages",
    "SmashedBatch": "messages",
    "irecv_state": "messages",
    "recv_cut_grad": "messages",
    "recv_smashed": "messages",
    "recv_state": "messages",
    "send_cut_grad": "messages",
    "send_smashed": "messages",
    "send_state": "messages",
    "ByteMeter": "meter",
    "counts_to_bytes": "meter",
    "payload_bytes": "meter",
    "wire_bytes": "meter",
    "flatten_state": "state",
    "load_flat_state": "state",
    "DistTransport": "transport",
    "Transport": "transport",
}

__all__ = list(_HOMES)


__getattr__ = names_on_first_use(__name__, _HOMES)
