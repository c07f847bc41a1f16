"""Raw client inputs never leave a client host, in any form; nothing on the wire is pickled.

The leak check correlates every tensor a client host hands to torch.distributed (point-to-point
and collectives), cast to float32, with every raw training image: an exact copy, a cast
(fp16, bf16), an int8 quantisation or any other affine transform of an image correlates near 1,
while smashed activations and model states do not. The check itself is tested on such leaks.
"""

from __future__ import annotations

import pytest
import torch

from fsl_sage_dist.data import load_dataset
from fsl_sage_dist.models import build_split_model
from fsl_sage_dist.wire.compression import compress

from harness import OBJECT_OPS, host_sends, small_config, spawn_job

PIXELS = 28 * 28
THRESHOLD = 0.9  # |Pearson correlation| with some raw image above which a row counts as a leak


def _unit_rows(rows: torch.Tensor) -> torch.Tensor:
    rows = rows - rows.mean(dim=1, keepdim=True)
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)


def leaked_rows(tensor: torch.Tensor, images: torch.Tensor) -> int:
    """Rows of `tensor` that correlate with a raw image: every aligned PIXELS-wide chunk of the
    flat tensor, and the first PIXELS values of each sample of a batch-shaped tensor."""
    values = tensor.detach().float()
    flat = values.flatten()
    candidates = [flat[: len(flat) // PIXELS * PIXELS].reshape(-1, PIXELS)]
    if values.dim() >= 2 and values[0].numel() >= PIXELS:
        candidates.append(values.reshape(len(values), -1)[:, :PIXELS])
    rows = torch.cat(candidates)
    if not len(rows):
        return 0
    corr = _unit_rows(rows) @ _unit_rows(images.flatten(1).float()).T
    return int((corr.abs() > THRESHOLD).any(dim=1).sum())


def training_images(cfg) -> torch.Tensor:
    data = cfg.data
    return load_dataset(
        "synthetic",
        "train",
        synthetic_shape=tuple(data.synthetic_shape),
        synthetic_size=tuple(data.synthetic_size),
        seed=cfg.seed,
    ).images


def test_the_leak_check_sees_copies_casts_and_quantisations(tmp_path):
    images = training_images(small_config(tmp_path))
    batch = images[torch.randperm(len(images))[:32]]
    leaks = {
        "copy": batch,
        "fp16": batch.half(),
        "bf16": batch.bfloat16(),
        "int8": compress(batch, "int8")[0],
        "flat, in a longer vector": torch.cat([torch.zeros(PIXELS), batch.flatten()]),
        "in a wider row": torch.cat([batch.flatten(1), torch.ones(32, 10)], dim=1),
    }
    for name, leak in leaks.items():
        assert leaked_rows(leak, images) >= 32, name
    model = build_split_model("simple_conv", (1, 28, 28), 10)
    smashed = model.client(batch)
    assert leaked_rows(smashed, images) == 0
    assert leaked_rows(torch.cat([p.flatten() for p in model.client.parameters()]), images) == 0


# One run per algorithm, each with another wire dtype: all algorithms, all dtypes.
PAIRS = [
    ("fedavg", "fp32"),
    ("splitfed_v1", "int8"),
    ("splitfed_v2", "fp16"),
    ("cse_fsl", "bf16"),
    ("fsl_sage", "int8"),
]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm, dtype", PAIRS)
def test_no_raw_input_leaves_a_client_host(tmp_path, algorithm, dtype):
    cfg = small_config(
        tmp_path,
        f"algorithm={algorithm}",
        f"wire.activation_dtype={dtype}",
        "rounds=1",
        "fsl.align_interval=1",
    )
    traffic = spawn_job(cfg, record_dir=tmp_path / "traffic", keep_tensors=True)
    images = training_images(cfg)
    handed = [e for log in traffic[1:] for e in host_sends(log)]
    assert {e["op"] for e in handed} >= {"isend", "reduce"}, "uploads and the meter reduction"
    for entry in handed:
        assert leaked_rows(entry["tensor"], images) == 0, (entry["op"], entry["shape"])
    assert not [e["op"] for log in traffic for e in log if e["op"] in OBJECT_OPS]
