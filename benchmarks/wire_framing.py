"""Cost of payload framing (the length word after every payload, `wire/channel.py`).

    python benchmarks/wire_framing.py --messages 200 --out docs/wire_framing.json

Two local Gloo ranks (loopback) send the ResNet-18 smashed activations of one CIFAR-10 batch
(default stem, `model.cut=layer2`, train.batch_size 128, fp32) from rank 1 to rank 0, one at a
time, alternately through `Channel` (header + framed payload, validated) and as header + bare
payload with plain `dist.send`/`dist.recv` (the wire before the length word). Also times the
framing work alone in one process (sender copy, receiver buffer and check), which is what the
length word adds. Prints and writes the medians, with a `provenance` record
(benchmarks/provenance.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from provenance import record

from fsl_sage_dist.models import build_split_model
from fsl_sage_dist.wire import Channel, DistTransport, Expect, Header, Kind
from fsl_sage_dist.wire.channel import frame, framed_buffer, unframe

BATCH = 128


def _activation() -> torch.Tensor:
    model = build_split_model("resnet18", (3, 32, 32), 10, cut="layer2", seed=0)
    return torch.randn(BATCH, *model.cut_shape)


def _timed(rank: int, send, recv) -> float:
    dist.barrier()
    start = time.perf_counter()
    send() if rank == 1 else recv()
    return time.perf_counter() - start


def _framing_only(header: Header, x: torch.Tensor, messages: int) -> float:
    cpu, times = torch.device("cpu"), []
    for _ in range(messages):
        start = time.perf_counter()
        buffer = framed_buffer(header, cpu)
        buffer.copy_(frame(header, x, cpu, peer=0))  # stands in for Gloo filling the buffer
        unframe(buffer, header, peer=1)
        times.append(time.perf_counter() - start)
    copy = []
    for _ in range(messages):  # the copy Gloo itself makes into the receive buffer
        start = time.perf_counter()
        torch.empty_like(x).copy_(x)
        copy.append(time.perf_counter() - start)
    return statistics.median(times) - statistics.median(copy)


def _bench(rank: int, store_file: str, messages: int, out: str, provenance: dict) -> None:
    dist.init_process_group(
        "gloo",
        store=dist.FileStore(store_file, 2),
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=120),
    )
    torch.set_num_threads(1)
    x = _activation()
    header = Header(Kind.SMASHED, 0, 0, 0, x.dtype, tuple(x.shape))
    expect = Expect(Kind.SMASHED, 0, 0, 0, (x.dtype,), (-1, *x.shape[1:]), max_rows=BATCH)
    channel = Channel(DistTransport(), None, torch.device("cpu"), torch.device("cpu"), 1 << 30)

    def framed_send() -> None:
        channel.send(0, header, x, "activations", "up")
        channel.flush()

    def bare_send() -> None:
        dist.send(header.encode(), dst=0)
        dist.send(x, dst=0)

    def bare_recv() -> None:
        head = torch.empty(len(header.encode()), dtype=torch.int64)
        dist.recv(head, src=1)
        dist.recv(torch.empty_like(x), src=1)

    def framed_recv() -> None:
        channel.recv(1, expect, "activations", "up")

    bare, framed = [], []
    for i in range(10 + messages):  # alternate, so load on the machine hits both alike
        b = _timed(rank, bare_send, bare_recv)
        f = _timed(rank, framed_send, framed_recv)
        if i >= 10:  # warm-up
            bare.append(b)
            framed.append(f)
    if rank == 0:
        report = {
            "provenance": provenance,
            "payload_bytes": x.numel() * x.element_size(),
            "shape": list(x.shape),
            "messages": messages,
            "median_s_per_message_bare": statistics.median(bare),
            "median_s_per_message_framed": statistics.median(framed),
            "framing_work_s_per_message": _framing_only(header, x, messages),
        }
        Path(out).write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--out", default="docs/wire_framing.json")
    args = parser.parse_args()
    provenance = record(threads_per_rank=1)  # each rank sets torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        mp.start_processes(
            _bench,
            nprocs=2,
            start_method="spawn",
            args=(str(Path(folder) / "store"), args.messages, args.out, provenance),
        )


if __name__ == "__main__":
    main()
