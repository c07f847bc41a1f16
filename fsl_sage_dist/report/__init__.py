"""Rank 0's writers: the one recorder that writes every file of RUN_DIR (`recorder`), and what it
writes through (`tensorboard`, `progress`, `summary`, `describe`). The formats themselves are
`rundir/`'s, which the readers share."""
