"""Units and sentinels that several layers share; a leaf (no imports), so sharing one does not
lift a module above the one that happens to use it most."""

KIB = 1024
MIB = 1024 * 1024
GIB = 1024 * MIB

NO_ITERATION = -1
"""The message log's iteration of a message outside the local loop: the round-end exchange."""
