"""The split GPT-2: the same function as the unsplit model, LoRA the only state that travels.

Needs the `llm` extra (transformers); skipped without it, failed without it under CI=true.
"""

from __future__ import annotations

import pytest
import torch

from availability import require

require("transformers", "the `llm` extra: pip install -e .[llm]")

from fsl_sage_dist.models import GPT2Spec, build_split_model, state_nbytes  # noqa: E402
from fsl_sage_dist.models.gpt2 import SIZES, base_model  # noqa: E402
from fsl_sage_dist.seeding import seeded_torch  # noqa: E402
from fsl_sage_dist.wire import flatten_state  # noqa: E402

VOCAB, SEQ = 258, 32
LAYERS, D, _, _ = SIZES["tiny"]


def split_and_base(spec: GPT2Spec, seed: int = 3):
    model = build_split_model("gpt2", (SEQ,), VOCAB, seed=seed, gpt2=spec)
    with seeded_torch(seed, "model_init"):  # the same draws as the builder's first ones
        base = base_model(spec, VOCAB)
    return model, base


@pytest.mark.parametrize("cut", [1, 2])
def test_client_then_server_is_the_unsplit_model(cut):
    model, base = split_and_base(GPT2Spec(cut_blocks=cut))
    ids = torch.randint(0, VOCAB, (3, SEQ), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        split = model.server(model.client(ids))
        assert model.client(ids).shape == (3, SEQ, D) == (3, *model.cut_shape)
        torch.testing.assert_close(split, base(ids).logits, rtol=0, atol=1e-5)
        assert model.aux(model.client(ids)).shape == (3, SEQ, VOCAB)


def test_every_part_is_causal():
    model, _ = split_and_base(GPT2Spec())
    ids = torch.randint(0, VOCAB, (2, SEQ), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, -1] = (ids[:, -1] + 1) % VOCAB
    with torch.no_grad():
        for head in (model.server, model.aux):
            before, after = head(model.client(ids)), head(model.client(changed))
            torch.testing.assert_close(before[:, :-1], after[:, :-1], rtol=0, atol=1e-5)
            assert not torch.allclose(before[:, -1], after[:, -1])


def lora_nbytes(blocks: int, r: int) -> int:
    """Per block: A [2, r, d] and B [2, d, r] (q and v), float32."""
    return blocks * 2 * 2 * r * D * 4


def aux_nbytes(blocks: int) -> int:
    """Per GPT-2 block: two LayerNorms (2d each), c_attn (3d^2 + 3d), attention c_proj
    (d^2 + d), MLP c_fc (4d^2 + 4d) and c_proj (4d^2 + d); plus the final LayerNorm (2d).
    The tied LM head is the client's frozen embedding: not aux state."""
    return (blocks * (12 * D * D + 13 * D) + 2 * D) * 4


@pytest.mark.parametrize("cut, aux, r", [(1, 3, 4), (2, 1, 8)])
def test_only_trainable_tensors_are_state_and_their_bytes_are_the_closed_form(cut, aux, r):
    model = build_split_model(
        "gpt2", (SEQ,), VOCAB, gpt2=GPT2Spec(cut_blocks=cut, aux_blocks=aux, lora_r=r)
    )
    for part in (model.client, model.server):
        names = list(part.state_dict())
        assert names and all(n.endswith(("lora_a", "lora_b")) for n in names), names
        assert [n for n, _ in part.named_parameters()] == names  # what an optimizer sees
    assert state_nbytes(model.client) == lora_nbytes(cut, r)
    assert state_nbytes(model.server) == lora_nbytes(LAYERS - cut, r)
    assert state_nbytes(model.aux) == aux_nbytes(aux)
    for part in (model.client, model.server, model.aux):
        flat = flatten_state(part)
        assert sum(v.numel() * v.element_size() for v in flat) == state_nbytes(part)
    assert "lm_head" not in dict(model.aux.named_parameters())
    assert state_nbytes(model.full()) == lora_nbytes(LAYERS, r)  # FedAvg's averaged model


def test_frozen_weights_are_the_same_on_every_build_and_lora_starts_as_a_no_op():
    one, two = (build_split_model("gpt2", (SEQ,), VOCAB, seed=7) for _ in range(2))
    for a, b in zip(one.client.buffers(), two.client.buffers()):
        assert torch.equal(a, b)
    assert all(
        torch.equal(b, torch.zeros_like(b))
        for n, b in one.server.named_parameters()
        if n.endswith("lora_b")
    )


def test_lora_gradients_reach_only_lora_and_change_the_output():
    model, _ = split_and_base(GPT2Spec())
    ids = torch.randint(0, VOCAB, (2, SEQ), generator=torch.Generator().manual_seed(2))
    before = model.server(model.client(ids)).detach()
    model.server(model.client(ids)).sum().backward()
    grads = {n: p.grad for part in (model.client, model.server) for n, p in part.named_parameters()}
    assert all(g is not None for n, g in grads.items() if n.endswith("lora_b"))
    with torch.no_grad():
        for p in model.server.parameters():
            p.add_(0.05)
    assert not torch.allclose(model.server(model.client(ids)), before)


def test_pretrained_weights_load_from_a_save_pretrained_folder(tmp_path):
    with seeded_torch(11, "elsewhere"):
        saved = base_model(GPT2Spec(), VOCAB)  # weights another seed would never draw
    saved.save_pretrained(tmp_path)
    model = build_split_model(
        "gpt2", (SEQ,), VOCAB, seed=3, gpt2=GPT2Spec(pretrained=str(tmp_path), cut_blocks=2)
    )
    ids = torch.randint(0, VOCAB, (2, SEQ), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(
            model.server(model.client(ids)), saved(ids).logits, rtol=0, atol=1e-5
        )


def test_a_cut_must_leave_blocks_on_both_sides():
    with pytest.raises(ValueError, match="model.cut_blocks=4 must leave at least one block"):
        build_split_model("gpt2", (SEQ,), VOCAB, gpt2=GPT2Spec(cut_blocks=4))
    with pytest.raises(ValueError, match="data.seq_len=300 exceeds the model's context of 256"):
        build_split_model("gpt2", (300,), VOCAB)


def test_a_model_built_on_the_meta_device_has_the_same_byte_counts():
    """benchmarks/llm_bytes.py sizes GPT-2 medium this way, without drawing a weight."""
    from fsl_sage_dist.algorithms.expected_bytes import ModelBytes

    spec = GPT2Spec(cut_blocks=2, aux_blocks=2)
    real = build_split_model("gpt2", (SEQ,), VOCAB, gpt2=spec)
    with torch.device("meta"):
        meta = build_split_model("gpt2", (SEQ,), VOCAB, gpt2=spec)
    assert ModelBytes.of(meta) == ModelBytes.of(real)
    assert ModelBytes.of(real).scale_rows == SEQ  # int8 scales: one pair per token


def test_client_copies_share_the_frozen_weights_and_own_their_lora():
    from fsl_sage_dist.models import clone

    model = build_split_model("gpt2", (SEQ,), VOCAB)
    one, two = clone(model.client), clone(model.client)
    assert one.wte.weight is two.wte.weight is model.client.wte.weight
    lora = [(a, b) for a, b in zip(one.parameters(), two.parameters())]
    assert lora and all(a is not b and torch.equal(a, b) for a, b in lora)
    resnet = build_split_model("resnet18", (3, 32, 32), 10)  # no frozen tensors: a plain copy
    assert all(
        a is not b
        for a, b in zip(
            clone(resnet.client).state_dict().values(), resnet.client.state_dict().values()
        )
    )
