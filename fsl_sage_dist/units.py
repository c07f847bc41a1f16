"""Byte units, a leaf every layer may use: the reports give MiB (2**20 bytes), TensorBoard's
byte steps KiB (2**10)."""

from __future__ import annotations

KIB = 1024
MIB = 1024 * 1024
