"""The client state store alone: exact round trips, file versions kept for checkpoints and
removed after, and checkpoints written one way resumed the other."""

from __future__ import annotations

import pytest
import torch

from fsl_sage_dist.client_store import ClientStateStore
from fsl_sage_dist.errors import CheckpointError


def state(seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {
        "optimizer": {
            "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(5, generator=gen)}},
            "param_groups": [{"lr": 1e-3, "params": [0]}],
        },
        "aux": {"weight": torch.randn(2, 3, generator=gen, dtype=torch.float64)},
    }


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def files(folder) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


@pytest.mark.parametrize("spill", [False, True])
def test_a_state_comes_back_bit_for_bit(tmp_path, spill):
    store = ClientStateStore(tmp_path / "spill", spill)
    assert store.get(7) is None
    store.put(7, 0, state(1))
    assert same(store.get(7), state(1))
    assert files(tmp_path / "spill") == ({"client7_round0.pt"} if spill else set())


def test_spilled_versions_stay_while_a_checkpoint_refers_to_them(tmp_path):
    folder = tmp_path / "spill"
    store = ClientStateStore(folder, spill=True)
    store.put(1, 0, state(1))
    store.put(1, 1, state(2))  # no checkpoint holds round 0's version: replaced
    assert files(folder) == {"client1_round1.pt"}
    first = store.state_dict()
    assert first == {
        "1": {
            "round": 1,
            "file": "client1_round1.pt",
            "bytes": first["1"]["bytes"],
            "sha256": first["1"]["sha256"],
        }
    }
    store.put(1, 2, state(3))
    store.state_dict()  # the second checkpoint: the first is in force until it completes
    store.put(1, 3, state(4))
    assert files(folder) == {"client1_round1.pt", "client1_round2.pt", "client1_round3.pt"}
    store.state_dict()  # a third: the first is superseded for good
    assert files(folder) == {"client1_round2.pt", "client1_round3.pt"}
    assert same(store.get(1), state(4))
    assert store.disk_bytes() == sum(p.stat().st_size for p in folder.iterdir())


@pytest.mark.parametrize(
    ("before", "after"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_resume_reads_a_checkpoint_written_either_way(tmp_path, before, after):
    folder = tmp_path / "spill"
    writer = ClientStateStore(folder, spill=before)
    writer.put(2, 4, state(1))
    writer.put(5, 3, state(2))
    saved = writer.state_dict()
    writer.put(2, 6, state(3))  # after the checkpoint: an orphan once resumed
    reader = ClientStateStore(folder, spill=after)
    reader.load_state_dict(saved)
    reader.remove_unreferenced()
    assert same(reader.get(2), state(1)) and same(reader.get(5), state(2))
    assert reader.get(3) is None
    # the checkpoint's files stay (it is in force until the next one completes), others go
    assert files(folder) == (
        {"client2_round4.pt", "client5_round3.pt"} if before or after else set()
    )
    reader.state_dict()
    reader.state_dict()
    assert files(folder) == ({"client2_round4.pt", "client5_round3.pt"} if after else set())


def _spilled_then_flipped(tmp_path):
    """A store that spilled client 0's state and checkpointed it, then one byte of that file
    flipped (its size unchanged): (store, its checkpointed state, the file)."""
    folder = tmp_path / "spill"
    store = ClientStateStore(folder, spill=True)
    store.put(0, 0, state(1))
    saved = store.state_dict()
    path = folder / "client0_round0.pt"
    data = bytearray(path.read_bytes())
    data[-20] ^= 1
    path.write_bytes(bytes(data))
    return store, saved, path


def test_a_damaged_or_missing_spill_file_is_a_clear_error(tmp_path):
    store, saved, path = _spilled_then_flipped(tmp_path)
    with pytest.raises(CheckpointError, match="client0_round0.pt is not the file this run wrote"):
        store.get(0)
    path.unlink()
    with pytest.raises(CheckpointError, match="client0_round0.pt, which is missing"):
        ClientStateStore(path.parent, spill=True).load_state_dict(saved)


def test_a_spill_file_damaged_at_its_size_is_refused_on_resume(tmp_path):
    """One flipped byte keeps the size: the resume (load_state_dict, before anything in RUN_DIR
    changes) must find it by hash, not the client's next participation rounds later."""
    _, saved, path = _spilled_then_flipped(tmp_path)
    with pytest.raises(CheckpointError, match="client0_round0.pt, whose SHA-256 differs"):
        ClientStateStore(path.parent, spill=True).load_state_dict(saved)
