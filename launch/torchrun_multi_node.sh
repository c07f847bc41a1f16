#!/usr/bin/env bash
# Several nodes: run this on every node with the same arguments and environment.
#   NNODES=2 NPROC_PER_NODE=4 MASTER=node0.cluster:29500 \
#       bash launch/torchrun_multi_node.sh configs/fmnist_fsl_sage.toml launch.client_hosts=7
# World size = NNODES * NPROC_PER_NODE must equal 1 + launch.client_hosts; global rank 0
# (the server) lands on the node torchrun ranks first.
# Ports: the c10d rendezvous listens on MASTER's port; Gloo/NCCL then open connections between
# all nodes on ephemeral ports, so allow traffic between the nodes (and keep it off the open
# internet: the rendezvous store has no authentication).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NNODES:?set NNODES}" "${NPROC_PER_NODE:?set NPROC_PER_NODE}" "${MASTER:?set MASTER=host:port}"
exec .venv/bin/torchrun --nnodes="$NNODES" --nproc_per_node="$NPROC_PER_NODE" \
    --rdzv_backend=c10d --rdzv_endpoint="$MASTER" --rdzv_id="${RDZV_ID:-fsl-sage}" \
    -m fsl_sage_dist run "$@"
