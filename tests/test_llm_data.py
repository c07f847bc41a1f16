"""Text data for split fine-tuning: the offline E2E-like generator, the E2E CSV reader, rows of
prompt + target with targets on the target text only, partitions over restaurants, and the
one-line errors a language-model run gives before any rank starts."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from fsl_sage_dist import cli
from fsl_sage_dist.data import DatasetNotFoundError, load_dataset, partition_indices
from fsl_sage_dist.data.e2e import NAMES, TEMPLATES, mr_text, parse_mr, render, synthetic_pairs
from fsl_sage_dist.data.token_set import IGNORE, PROMPT_END, encode_pair
from fsl_sage_dist.data.tokenizer import ByteTokenizer, load_tokenizer
from fsl_sage_dist.plan.seeds import numpy_rng

from availability import require

BYTES = ByteTokenizer()


def synthetic(split: str = "train", size: int = 400, seed: int = 5, seq_len: int = 256):
    return load_dataset(
        "e2e_synthetic", split, synthetic_size=(size, size), seed=seed, seq_len=seq_len
    )


def test_the_generator_is_seeded_and_its_sentences_state_every_slot():
    one, two = synthetic(), synthetic()
    assert torch.equal(one.ids, two.ids) and one.references == two.references
    assert synthetic("test").references != one.references
    assert synthetic(seed=6).references != one.references
    pairs = synthetic_pairs(300, numpy_rng(0, "test"))
    for mr, sentence in pairs:
        assert parse_mr(mr_text(mr)) == mr
        values = [v for slot, v in mr.items() if slot != "familyFriendly"]
        assert all(v in sentence for v in values), (mr, sentence)
    assert len({render(pairs[0][0], t) for t in range(TEMPLATES)}) == TEMPLATES


def test_a_row_scores_only_the_target_text_and_its_end():
    ids, targets = encode_pair(BYTES, "name[Aromi]", "Aromi is a pub.", seq_len=48)
    prompt = len(BYTES.encode("name[Aromi]" + PROMPT_END))
    scored = [t for t in targets if t != IGNORE]
    assert BYTES.decode(scored) == "Aromi is a pub." and scored[-1] == BYTES.eos_id
    assert targets[: prompt - 1] == [IGNORE] * (prompt - 1)
    assert ids[prompt : prompt + len(scored) - 1] == scored[:-1]  # targets = inputs shifted by one
    assert len(ids) == len(targets) == 48 and ids[-1] == BYTES.pad_id


def test_a_long_prompt_is_cut_so_that_every_row_has_targets():
    ids, targets = encode_pair(BYTES, "x" * 500, "y" * 500, seq_len=64)
    assert targets[:31] == [IGNORE] * 31 and all(t == ord("y") for t in targets[31:])
    rows = synthetic(seq_len=32)
    assert bool(((rows.targets != IGNORE).sum(dim=1) > 0).all())


def test_partitions_draw_over_restaurant_names():
    train = synthetic()
    assert train.partition_classes == len(NAMES) and train.num_classes == 258
    assert train.input_shape == (256,)
    labels = train.labels.numpy()
    for scheme in ("iid", "dirichlet", "dirichlet_equal"):
        parts = partition_indices(labels, 4, scheme, seed=1, alpha=0.1)
        flat = np.concatenate(parts)
        assert len(flat) == len(set(flat.tolist()))
    skewed = partition_indices(labels, 4, "dirichlet", seed=1, alpha=0.1)
    names = [len(set(labels[p].tolist())) for p in skewed]
    assert min(names) < len(NAMES) // 2, names  # a client sees few of the restaurants


def test_e2e_files_missing_is_one_error_naming_them_and_where_to_get_them(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("e2e_nlg", "train", root=tmp_path)
    message = str(err.value)
    assert "trainset.csv" in message and "testset_w_refs.csv" in message
    assert "github.com/tuetschek/e2e-dataset" in message and str(tmp_path) in message


def test_e2e_csv_files_are_read(tmp_path):
    rows = {
        "trainset.csv": [
            ("name[Aromi], eatType[pub]", "Aromi is a pub."),
            ("name[Cotto], area[riverside]", "Cotto is by the river."),
            ("name[Aromi], eatType[pub]", "There is a pub, Aromi."),
        ],
        "testset_w_refs.csv": [("name[Zizzi], food[French]", "Zizzi serves French food.")],
    }
    for name, pairs in rows.items():
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["mr", "ref"])
            writer.writerows(pairs)
    train = load_dataset("e2e_nlg", "train", root=tmp_path, seq_len=64)
    assert train.references[2] == "There is a pub, Aromi." and len(train) == 3
    assert train.labels.tolist() == [0, 1, 0] and train.partition_classes == 2
    assert len(load_dataset("e2e_nlg", "test", root=tmp_path, seq_len=64)) == 1


def test_a_folder_without_tokenizer_files_means_bytes(tmp_path):
    assert isinstance(load_tokenizer(""), ByteTokenizer)
    assert isinstance(load_tokenizer(str(tmp_path)), ByteTokenizer)


def one_line_error(capsys, *args: str) -> str:
    code = cli.main(["run", *args])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_a_hub_name_offline_is_one_line_before_anything_starts(
    tmp_path, capsys, no_spawn, monkeypatch
):
    require("transformers", "the `llm` extra: pip install -e .[llm]")
    monkeypatch.setenv("FSL_SAGE_OFFLINE", "1")  # the hub is unreachable, whatever this host has
    line = one_line_error(
        capsys,
        "configs/llm_tiny_fsl_sage.toml",
        "model.pretrained=openai-community/no-such-gpt2",
        f"output.dir={tmp_path}",
    )
    assert "model.pretrained='openai-community/no-such-gpt2' is not a local folder" in line
    assert "save_pretrained" in line
    assert not any(tmp_path.iterdir())


def test_a_language_model_on_images_is_one_line(tmp_path, capsys, no_spawn):
    line = one_line_error(
        capsys, "model.name=gpt2", "data.name=synthetic", f"output.dir={tmp_path}"
    )
    assert "model.name='gpt2' cannot train on data.name='synthetic'" in line


def test_slot_errors_count_the_values_a_text_leaves_out():
    from fsl_sage_dist.data.e2e import slot_errors

    mr = "name[Aromi], eatType[pub], area[riverside], familyFriendly[yes]"
    assert slot_errors(mr, "Aromi is a pub by the riverside.") == (0, 3)
    assert slot_errors(mr, "aromi is a PUB.") == (1, 3)
    assert slot_errors(mr, "") == (3, 3)


class Oracle(torch.nn.Module):
    """Predicts each row's continuation from the test set itself (a perfect model), or EOS
    right away (a silent one)."""

    def __init__(self, test, silent: bool) -> None:
        super().__init__()
        self.test, self.silent = test, silent
        self.register_buffer("anchor", torch.zeros(1))

    def forward(self, ids):
        logits = torch.zeros(*ids.shape, self.test.num_classes)
        for b, row in enumerate(ids):
            match = next(
                i
                for i in range(len(self.test))
                if torch.equal(
                    self.test.ids[i, : len(self.test.prompt_ids(i))],
                    row[: len(self.test.prompt_ids(i))],
                )
            )
            future = self.test.ids[match, 1:].tolist() + [BYTES.eos_id]
            for t in range(ids.shape[1]):
                eos = (
                    self.silent
                    or self.test.targets[match, t] == IGNORE
                    and t >= len(self.test.prompt_ids(match))
                )
                logits[b, t, BYTES.eos_id if eos else future[t]] = 1
        return logits


def test_greedy_decoding_scores_a_perfect_model_0_and_a_silent_one_1():
    from fsl_sage_dist.runtime.text_eval import slot_error_rate

    test = synthetic("test", size=6, seq_len=256)
    assert slot_error_rate(Oracle(test, silent=False), test, 3) == 0
    assert slot_error_rate(Oracle(test, silent=True), test, 3) == 1
