"""Limits of the wire that the config checks against; torch-free, so the config can use them."""

MAX_MESSAGE_MIB = 2**20
"""The largest `wire.max_message_mib`, 1 TiB: far above any real message, far below what a
byte count can hold."""
