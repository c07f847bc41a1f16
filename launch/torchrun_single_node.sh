#!/usr/bin/env bash
# One node, 1 server + 2 client hosts under torchrun (the config's launch.client_hosts must be 2).
#   bash launch/torchrun_single_node.sh configs/fmnist_fsl_sage.toml rounds=5
# --standalone rendezvouses on this machine only; Gloo on CPU, or NCCL with one GPU per rank.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/torchrun --standalone --nproc_per_node=3 -m fsl_sage_dist run "$@"
