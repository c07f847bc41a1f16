#!/usr/bin/env bash
# Several nodes: run this on every node with the same arguments and environment.
#   NNODES=2 NPROC_PER_NODE=4 MASTER=node0.cluster:29500 \
#       bash launch/torchrun_multi_node.sh configs/fmnist_fsl_sage.toml launch.client_hosts=7
# World size = NNODES * NPROC_PER_NODE must equal 1 + launch.client_hosts; global rank 0
# (the server) lands on the node torchrun ranks first: under c10d, nodes are numbered in the
# order they join the rendezvous (NODE_RANK, optional, is passed on but torchrun uses it only
# for a static rendezvous). Each rank's threads: the node's cores / NPROC_PER_NODE, unless
# runtime.threads_per_rank is set.
# Ports: the c10d rendezvous listens on MASTER's port; Gloo/NCCL then open connections between
# all nodes on ephemeral ports, so allow traffic between the nodes (and keep it off the open
# internet: the rendezvous store has no authentication). RUN_DIR (output.dir) must be on a
# filesystem every node sees.
# Tested by tests/test_multi_node.py: two agents on one machine as two nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NNODES:?set NNODES}" "${NPROC_PER_NODE:?set NPROC_PER_NODE}" "${MASTER:?set MASTER=host:port}"
exec .venv/bin/torchrun --nnodes="$NNODES" --nproc_per_node="$NPROC_PER_NODE" \
    ${NODE_RANK:+--node-rank="$NODE_RANK"} \
    --rdzv_backend=c10d --rdzv_endpoint="$MASTER" --rdzv_id="${RDZV_ID:-fsl-sage}" \
    -m fsl_sage_dist run "$@"
