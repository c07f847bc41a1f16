"""ClientStateStore: what each of a host's clients keeps between its participations, off the
heap when spilling.

A client's model is not part of it: every client takes the global model at each round end, so
the host builds a participant's model from its one global copy when the client is sampled. What
is left is the client's own: its optimizer's moments, its aux head where that is not averaged
(FSL-SAGE), that head's optimizer (CSE-FSL). The host puts it here after the client's round and
gets it back the next time the client is sampled.

    store = ClientStateStore(folder, spill=True)
    store.put(client, round_, state)     # tensors and plain containers
    state = store.get(client)            # None: the client has not participated yet

Spilling (`runtime.spill`): each `put` writes one file, `client<c>_round<r>.pt`, with
`torch.save`; `get` checks its SHA-256 and reads it back with `torch.load(weights_only=True)`.
Both round-trip tensors exactly, so a run gives the same bits with and without spilling, and a
host's memory holds only the round's participants. Files are versions, never rewritten: a
checkpoint refers to the files current at that moment (name, size, SHA-256; no second copy),
and a file is removed once neither the current state nor the last two checkpoints refer to it
(the older of the two stays in force until the newer one's manifest is written; a checkpoint is
only taken once the one before it is complete).
"""

from __future__ import annotations

import hashlib
import io
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fsl_sage_dist.atomic_write import make_dirs, write_atomic
from fsl_sage_dist.errors import CheckpointError

FILE_GLOB = "client*_round*.pt"


def spill_folder(run_dir: Path, spill_dir: str, name: str, rank: int) -> Path:
    """Client host `rank`'s folder: RUN_DIR/client_state/rankR, or, under `spill_dir`
    (`runtime.spill_dir`), one folder per run: its `name` (`output.name`) and a hash of its
    RUN_DIR's path, so runs never share one."""
    if not spill_dir:
        return run_dir / "client_state" / f"rank{rank}"
    run = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]
    return Path(spill_dir).expanduser() / f"{name}-{run}" / f"rank{rank}"


@dataclass(frozen=True)
class SpillFile:
    """One spilled version of a client's state, as a checkpoint refers to it."""

    name: str
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.name, "bytes": self.bytes, "sha256": self.sha256}


class ClientStateStore:
    def __init__(self, folder: Path, spill: bool) -> None:
        self.folder = folder
        """Where spilled states are (also read from when resuming a spilled checkpoint)."""
        self.spills = spill
        self.rounds: dict[int, int] = {}
        """Client -> the round of its last participation."""
        self.states: dict[int, dict[str, Any]] = {}
        """Not spilling: client -> its state."""
        self.files: dict[int, SpillFile] = {}
        """Spilling: client -> the file that holds its current state."""
        self.pinned: deque[set[str]] = deque(maxlen=2)
        """Files the last two checkpoints refer to."""

    def get(self, client: int) -> dict[str, Any] | None:
        if not self.spills:
            return self.states.get(client)
        ref = self.files.get(client)
        return None if ref is None else self._read(ref)

    def put(self, client: int, round_: int, state: dict[str, Any]) -> None:
        self.rounds[client] = round_
        if not self.spills:
            self.states[client] = state
            return
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
        ref = SpillFile(
            f"client{client}_round{round_}.pt", len(data), hashlib.sha256(data).hexdigest()
        )
        make_dirs(self.folder)
        write_atomic(self.folder / ref.name, data)
        old, self.files[client] = self.files.get(client), ref
        if old is not None and old.name != ref.name:
            self._release(old.name)

    def _read(self, ref: SpillFile) -> dict[str, Any]:
        path = self.folder / ref.name
        try:
            data = path.read_bytes()
        except OSError as err:
            raise CheckpointError(
                f"cannot read spilled client state {path}: {(err.strerror or str(err)).lower()}"
            ) from None
        if len(data) != ref.bytes or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise CheckpointError(
                f"spilled client state {path} is not the file this run wrote "
                f"({len(data)} bytes, {ref.bytes} expected, or another "
                "SHA-256): damaged or replaced"
            )
        return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")

    def _in_use(self) -> set[str]:
        return {ref.name for ref in self.files.values()}.union(*self.pinned)

    def _release(self, name: str) -> None:
        if name not in self._in_use():
            (self.folder / name).unlink(missing_ok=True)

    def disk_bytes(self) -> int:
        """Bytes of spilled state on disk now (current versions and those checkpoints hold)."""
        if not self.folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.folder.glob(FILE_GLOB))

    # -- checkpoints -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Every client's state for a checkpoint: the state itself when kept in memory, a
        reference to its file when spilled."""
        dropped = self.pinned[0] if len(self.pinned) == self.pinned.maxlen else set()
        self.pinned.append({ref.name for ref in self.files.values()})
        for name in dropped:
            self._release(name)
        if not self.spills:
            return {str(c): {"round": self.rounds[c], "state": s} for c, s in self.states.items()}
        return {str(c): {"round": self.rounds[c], **ref.to_dict()} for c, ref in self.files.items()}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Take a checkpoint's states, whichever way it was written: a spilled state is read
        into memory when not spilling now, a state held in the checkpoint is spilled when
        spilling now. Touches no file that the checkpoint refers to."""
        refs = set()
        for key, entry in saved.items():
            client, round_ = int(key), int(entry["round"])
            if "state" in entry:
                self.put(client, round_, entry["state"])
                continue
            ref = SpillFile(str(entry["file"]), int(entry["bytes"]), str(entry["sha256"]))
            refs.add(ref.name)
            if self.spills:
                self._check_exists(ref)
                self.rounds[client], self.files[client] = round_, ref
            else:
                self.put(client, round_, self._read(ref))
        self.pinned.clear()
        self.pinned.append(refs)  # in force until two new checkpoints are taken

    def _check_exists(self, ref: SpillFile) -> None:
        """The file a checkpoint pins is the one it recorded, by size and SHA-256: checked on
        resume, before anything in RUN_DIR changes, not rounds later when the client is next
        sampled (after newer checkpoints that refer to it were written)."""
        path = self.folder / ref.name
        try:
            data = path.read_bytes() if path.is_file() else None
        except OSError as err:
            raise CheckpointError(
                f"cannot read spilled client state {path}: {(err.strerror or str(err)).lower()}"
            ) from None
        if data is None or len(data) != ref.bytes:
            found = "missing" if data is None else f"{len(data)} bytes, {ref.bytes} expected"
            raise CheckpointError(
                f"the checkpoint refers to spilled client state {path}, "
                f"which is {found}; was runtime.spill_dir changed since? "
                "Point it back, or move the checkpoints folder away to start "
                "over"
            )
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise CheckpointError(
                f"the checkpoint refers to spilled client state {path}, whose SHA-256 "
                "differs from the one it recorded (damaged or replaced); RUN_DIR is left as "
                "it was (move the checkpoints folder away to start over)"
            )

    def remove_unreferenced(self) -> None:
        """Once the run goes on (every rank agreed to resume, or it starts afresh): remove the
        spilled files of this folder that nothing refers to, those written after the checkpoint
        resumed from, or by an attempt that never checkpointed."""
        if self.folder.is_dir():
            keep = self._in_use()
            for path in self.folder.glob(FILE_GLOB):
                if path.name not in keep:
                    path.unlink()
