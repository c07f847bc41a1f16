"""Tokenizers for the text datasets: GPT-2's BPE where a pretrained folder brings one, bytes
otherwise (so everything runs offline with no vocabulary file)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

# Files a `save_pretrained` tokenizer folder holds (either is enough for AutoTokenizer).
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json")


class Tokenizer(Protocol):
    vocab_size: int
    eos_id: int
    pad_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes 0..255, then PAD = 256 and EOS = 257."""

    vocab_size = 258
    pad_id = 256
    eos_id = 257

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


class PretrainedTokenizer:
    """A transformers tokenizer; padding uses EOS (padded positions are never scored)."""

    def __init__(self, source: str) -> None:
        from transformers import AutoTokenizer

        self.inner = AutoTokenizer.from_pretrained(source)
        self.vocab_size = len(self.inner)
        self.eos_id = self.pad_id = self.inner.eos_token_id

    def encode(self, text: str) -> list[int]:
        return self.inner.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.inner.decode(ids, skip_special_tokens=True)


def load_tokenizer(pretrained: str = "") -> Tokenizer:
    """The tokenizer saved beside `pretrained` (a folder or hub name), else bytes."""
    folder = Path(pretrained).expanduser()
    if not pretrained or (
        folder.is_dir() and not any((folder / f).is_file() for f in _TOKENIZER_FILES)
    ):
        return ByteTokenizer()
    return PretrainedTokenizer(pretrained)
