"""Multi-node torchrun, on one machine: two elastic agents as two "nodes" of 2 ranks each,
through `launch/torchrun_multi_node.sh` and a c10d rendezvous on 127.0.0.1, give the results
of the same job on one node (the project's placement independence, over a real multi-agent
rendezvous). Automatic thread counts follow the ranks on each node; on a machine with fewer
than 4 cores, 2 and 4 ranks per node both get one thread, so only there the check cannot
tell the node's ranks from the world's."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import uuid

import pytest

from fsl_sage_dist.config import load_config

from harness import NO_GPU, ROOT, SMALL_JOB, assert_same_results, spawn_job

NODES, RANKS_PER_NODE = 2, 2
JOB = [
    *SMALL_JOB,
    "algorithm=fsl_sage",
    f"launch.client_hosts={NODES * RANKS_PER_NODE - 1}",
    "data.partition=dirichlet",
    "data.alpha=1.0",
    "fsl.server_interval=2",
    "fsl.align_interval=1",
    "fsl.async_align=true",
]
"""Asynchronous alignment fits on the server's own thread count: with automatic threads, a
synchronous one borrows every core of the node (`threads.borrowed_cores`), which the one-node
run, whose thread count is pinned, would not, and results depend on thread counts."""
AUTO_THREADS = max(1, (os.cpu_count() or 1) // RANKS_PER_NODE)
"""What `runtime.threads_per_rank=0` gives a rank on a node of RANKS_PER_NODE ranks."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _two_node_job(out_dir) -> list[subprocess.CompletedProcess]:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        GLOO_SOCKET_IFNAME="lo",
        **NO_GPU,
        NNODES=str(NODES),
        NPROC_PER_NODE=str(RANKS_PER_NODE),
        MASTER=f"127.0.0.1:{_free_port()}",
        RDZV_ID=uuid.uuid4().hex,
    )
    args = [
        "bash",
        str(ROOT / "launch/torchrun_multi_node.sh"),
        *JOB,
        "runtime.threads_per_rank=0",
        f"output.dir={out_dir}",
        "output.name=nodes2",
    ]
    agents = [
        subprocess.Popen(
            args,
            env=dict(env, NODE_RANK=str(node)),
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )  # its ranks in its process group
        for node in range(NODES)
    ]
    done = []
    try:
        for agent in agents:
            out, err = agent.communicate(timeout=300)
            done.append(subprocess.CompletedProcess(args, agent.returncode, out, err))
    finally:
        for agent in agents:
            if agent.poll() is None:  # a failed test leaves no agent or rank behind
                os.killpg(agent.pid, signal.SIGKILL)
                agent.wait()
    return done


@pytest.mark.slow
def test_two_torchrun_nodes_equal_one_node(tmp_path):
    for agent in _two_node_job(tmp_path):
        assert agent.returncode == 0, agent.stderr[-3000:]
    run_dir = tmp_path / "nodes2"
    ranks = [
        json.loads((run_dir / "ranks" / f"rank{r}.json").read_text())
        for r in range(NODES * RANKS_PER_NODE)
    ]
    # automatic thread counts follow the ranks on each node (LOCAL_WORLD_SIZE), not the world
    assert [r["threads"] for r in ranks] == [AUTO_THREADS] * len(ranks)
    # one node, the same thread count pinned: the built-in launcher's ranks
    one_node = load_config(
        None,
        [
            *JOB,
            f"runtime.threads_per_rank={AUTO_THREADS}",
            f"output.dir={tmp_path}",
            "output.name=nodes1",
        ],
    )
    spawn_job(one_node)
    assert len(assert_same_results(run_dir, one_node.run_dir)) == 2
