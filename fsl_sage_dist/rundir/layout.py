"""The names of RUN_DIR's files and folders: the one place they are spelled.

    RUN_DIR/config.toml       the fully resolved config
    RUN_DIR/partition.json    every client's samples and label histogram
    RUN_DIR/metrics.jsonl     one record per round (`records.py`)
    RUN_DIR/messages.jsonl    one round of the message log per line (`messages.py`)
    RUN_DIR/summary.json      the run's totals, written when it finishes
    RUN_DIR/final_model.pt    the final client model and full model
    RUN_DIR/tb/               TensorBoard event files
    RUN_DIR/ranks/            which process is which rank, and each rank's error
    RUN_DIR/checkpoints/      per-rank state and a manifest (`checkpoint.py`)

Each is a name relative to RUN_DIR: join it (`run_dir / METRICS`).
"""

from __future__ import annotations

CONFIG = "config.toml"
PARTITION = "partition.json"
METRICS = "metrics.jsonl"
MESSAGES = "messages.jsonl"
SUMMARY = "summary.json"
FINAL_MODEL = "final_model.pt"
TENSORBOARD = "tb"
RANKS = "ranks"
CHECKPOINTS = "checkpoints"

JSON_LINES = (METRICS, MESSAGES)
"""The JSON-lines files, one line per round, that a checkpoint covers: a resume keeps their
first rounds and drops the rest, and checks them before anything in RUN_DIR changes."""
