"""The memory figures the docs print (README's Client memory, docs/results.md's Memory by
part), from docs/memory.json (benchmarks/memory.py); each `assert` is a claim a phrase makes in
words, as in doc_values.py."""

from __future__ import annotations

MEMORY = "memory.json"
MEMORY_BASELINES = ("cse_fsl", "splitfed_v1", "splitfed_v2")
MEMORY_RESNETS = ("resnet18_fmnist", "resnet18_cifar")


def memory_ratio(j: dict, model: str, side: str, baseline: str) -> float:
    return j["models"][model]["ratios"][side][f"fsl_sage/{baseline}"]


def memory_client_figures(j: dict) -> tuple[float, float, float, float]:
    """FSL-SAGE's ResNet-18 client against FedAvg's (both shapes), CSE-FSL's and SplitFed's
    (one figure for both: their clients are the same); below CSE-FSL, above SplitFed."""
    cse, v1, v2 = (memory_ratio(j, "resnet18_cifar", "client", b) for b in MEMORY_BASELINES)
    assert v1 == v2 and cse < 1 < v2, (cse, v1, v2)
    fedavg = tuple(memory_ratio(j, m, "client", "fedavg") for m in MEMORY_RESNETS)
    return (*fedavg, cse, v2)


def memory_server_figures(j: dict) -> tuple[int, float]:
    """The store size and FSL-SAGE's ResNet-18 server against CSE-FSL's and SplitFed-v2's (the
    same server peak), above both; SplitFed-v1's is larger still."""
    cse, v1, v2 = (memory_ratio(j, "resnet18_cifar", "server", b) for b in MEMORY_BASELINES)
    assert cse == v2 and v1 < 1 < cse, (cse, v1, v2)
    return j["store_size"], cse


def memory_llm_server(j: dict) -> float:
    ratio = memory_ratio(j, "gpt2_lora", "server", "cse_fsl")
    assert ratio > 1, ratio
    return ratio


def overhead_figures(j: dict) -> tuple[float, float, int, float]:
    """The meter's round time on and off, runs each, and its own work's share (%); the runs
    spread more than on and off differ."""
    overhead = j["overhead"]
    got = overhead["results"]["fsl_sage"]
    runs = got["round_s_on"] + got["round_s_off"]
    assert max(runs) - min(runs) > abs(got["median_on_s"] - got["median_off_s"]), runs
    return (
        got["median_on_s"],
        got["median_off_s"],
        overhead["repeats"],
        100 * got["inside_meter_share"],
    )


def memory_fedavg_model_share(j: dict) -> tuple[float, float]:
    """ResNet-18 at 3x32x32: FSL-SAGE's client weights (MiB) and the share (%) of FedAvg's
    client peak its model, gradients and Adam moments make."""
    algorithms = j["models"]["resnet18_cifar"]["algorithms"]
    fedavg = algorithms["fedavg"]
    held = sum(fedavg["client_parts"][p] for p in ("params", "grads", "optimizer"))
    return (
        algorithms["fsl_sage"]["client_parts"]["params"] / 2**20,
        100 * held / fedavg["client_peak_bytes"],
    )
