"""The figures the docs print, computed from the files under docs/ by key (never by position,
so keys a later benchmark adds, such as provenance, change nothing). Each function returns the
figures of one phrase of tests/doc_figures.py in the order the phrase prints them; an
`assert` in one is a claim the phrase makes in words ("the slowest", "at most half")."""

from __future__ import annotations

import json
import re

SC = "bytes_to_accuracy_simple_conv.json"
SC_SEEDS = "bytes_to_accuracy_simple_conv_seeds.json"
RN = "bytes_to_accuracy_resnet18.json"
RN_SEEDS = "bytes_to_accuracy_resnet18_seeds_h200.json"
RN_H200 = "bytes_to_accuracy_resnet18_h200.json"
TTA_SC = "time_to_accuracy_simple_conv.json"
TTA_RN = "time_to_accuracy_resnet18.json"
LLM = "llm_bytes.json"
LLM_TINY = "bytes_to_accuracy_llm_tiny.json"
FASHION_MNIST_TRAIN = 60_000
LLM_CLIENTS = 10  # clients.num of configs/e2e_gpt2m_fsl_sage.toml, which llm_bytes.json names
LLM_ALIGN_INTERVAL = 10  # fsl.align_interval of that config: aux heads go down once per 10
LLM_TINY_CLIENTS = 4  # clients.num of configs/llm_tiny_*.toml
CLIENTS = 10  # clients.num of every bytes-to-accuracy run (the JSON records train_limit only)


def first_round(curve: list, target: float) -> int:
    """Rounds to a target from an `acc_by_round` curve of [round, acc] pairs, counted from 1."""
    return next(r + 1 for r, acc in curve if acc >= target)


def rounds_to(run: dict, target: str) -> int:
    """Rounds to a target for an algorithm whose payload is the same every round (CSE-FSL)."""
    return round(run["payload_mib_to"][target] / (run["total_payload_mib"] / run["rounds"]))


def rounds_for(mib: float, tta: dict, every: int = 10) -> int:
    """Rounds after which FSL-SAGE's cumulative payload is `mib`, from its per-round payload in
    aligning rounds (0, every, ...) and the others (time_to_accuracy's two recorded rounds)."""
    aligned, plain = (b / 2**20 for b in tta["results"]["fsl_sage"]["payload_bytes_per_round"])
    total, rounds = 0.0, 0
    while total < mib - 0.05:
        total += aligned if rounds % every == 0 else plain
        rounds += 1
    assert abs(total - mib) < 0.05, (mib, total)
    return rounds


def mib_per_round(tta: dict, algorithm: str, aligned: bool = False) -> float:
    return tta["results"][algorithm]["payload_bytes_per_round"][0 if aligned else 1] / 2**20


def seeds_stat(j: dict, *path: str) -> tuple[float, float, float]:
    """(mean, min, max) over seeds of over_seeds[path...]."""
    s = j["over_seeds"]
    for key in path:
        s = s[key]
    return s["mean"], s["min"], s["max"]


def seed_run(j: dict, seed: int, algorithm: str) -> dict:
    return j["per_seed"][str(seed)]["runs"][algorithm]


def seed_ratio(j: dict, seed: int, key: str, target: str | None = None) -> float | None:
    got = j["per_seed"][str(seed)]["comparisons"][key]
    return got[target] if target else got["fsl_sage/cse_fsl"]


def override(j: dict, key: str) -> list:
    """The value of a `--set key=[...]` override the benchmark recorded."""
    return json.loads(next(o.split("=", 1)[1] for o in j["extra_overrides"] if o.startswith(key)))


def speed_up(j: dict, algorithm: str, layout: str) -> float:
    got = j["results"][algorithm]
    return got["in-process, all cores"]["steady_s"] / got[layout]["steady_s"]


def quickstart_state_mib(text: str, part: str) -> float:
    return int(re.search(rf"{part} ([\d,]+)", text).group(1).replace(",", "")) / 2**20


def wall_s(text: str) -> float:
    """The `time` line at the end of docs/quickstart_output.txt."""
    minutes, seconds = re.search(r"real\s+(\d+)m([\d.]+)s", text).groups()
    return 60 * int(minutes) + float(seconds)


def best_reached(j: dict) -> tuple:
    """The one seed whose FSL-SAGE reaches CSE-FSL's best, its ratio and MiB, then the other
    seeds and the largest gap (points) between the two best accuracies among them."""
    (seed,) = [s for s in j["seeds"] if seed_ratio(j, s, "to_cse_fsl_best_acc") is not None]
    best = j["per_seed"][str(seed)]["comparisons"]["to_cse_fsl_best_acc"]
    others = [s for s in j["seeds"] if s != seed]
    gaps = [
        seed_run(j, s, "cse_fsl")["best_acc"] - seed_run(j, s, "fsl_sage")["best_acc"]
        for s in others
    ]
    mib = best["payload_mib"]
    return (
        seed,
        best["fsl_sage/cse_fsl"],
        mib["fsl_sage"],
        mib["cse_fsl"],
        *others,
        100 * max(gaps),
    )


def recorded_rounds(tta: dict, cpu: dict, seeds: dict) -> tuple:
    """Rounds to 85% of the time-to-accuracy run against the other recorded runs (the CPU run of
    the same seed, the GPU seeds after the first), and the range of rounds to 80% over all."""

    def gpu(algorithm, target):
        return [
            first_round(seed_run(seeds, s, algorithm)["acc_by_round"], target)
            for s in seeds["seeds"]
        ]

    cse, fsl = (tta["results"][a]["rounds_to"] for a in ("cse_fsl", "fsl_sage"))
    cse_cpu = {t: rounds_to(cpu["runs"]["cse_fsl"], t) for t in ("0.8", "0.85")}
    fsl_cpu = {
        t: rounds_for(cpu["runs"]["fsl_sage"]["payload_mib_to"][t], tta) for t in ("0.8", "0.85")
    }
    cse85 = [cse_cpu["0.85"], *gpu("cse_fsl", 0.85)[1:]]
    fsl85 = gpu("fsl_sage", 0.85)
    # "CSE-FSL's slowest", "FSL-SAGE's fastest: as fast as its CPU run, faster than any GPU seed"
    assert cse["0.85"] > max(cse85), cse85
    assert fsl["0.85"] == fsl_cpu["0.85"] < min(fsl85), (fsl_cpu, fsl85)
    cse80 = [cse["0.8"], cse_cpu["0.8"], *gpu("cse_fsl", 0.8)]
    fsl80 = [fsl["0.8"], fsl_cpu["0.8"], *gpu("fsl_sage", 0.8)]
    # "to 80% the recorded runs agree within a round"
    assert max(cse80) - min(cse80) <= 1 and max(fsl80) - min(fsl80) <= 1, (cse80, fsl80)
    return (
        cse["0.85"],
        cse85[0],
        seeds["seeds"][0],
        *cse85[1:],
        *seeds["seeds"][1:],
        fsl["0.85"],
        *fsl85,
        min(cse80),
        max(cse80),
        min(fsl80),
        max(fsl80),
    )


def sooner(j: dict, link: str, target: str) -> tuple[float, float]:
    """How many times sooner FSL-SAGE reaches `target` than CSE-FSL and than FedAvg."""
    t = {a: r["time_to_s"][link][target] for a, r in j["results"].items()}
    return t["cse_fsl"] / t["fsl_sage"], t["fedavg"] / t["fsl_sage"]


def profiles(j: dict) -> tuple:
    dc, bb, mob = (j["profiles"][p] for p in ("data centre", "broadband", "mobile"))
    assert dc["up_mbps"] == dc["down_mbps"]
    return (
        dc["up_mbps"] / 1000,
        dc["rtt_ms"],
        bb["down_mbps"],
        bb["up_mbps"],
        bb["rtt_ms"],
        mob["down_mbps"],
        mob["up_mbps"],
        mob["rtt_ms"],
    )


def host_ratios(small: dict, big: dict) -> list[float]:
    return [b / s for s, b in zip(small["peak_rss_mib"][1:], big["peak_rss_mib"][1:])]


def minutes_of_rounds(run: dict) -> tuple[int, float, float]:
    return run["rounds"], run["mean_round_s"], run["rounds"] * run["mean_round_s"] / 60


def best_of_cse(j: dict, last_round: bool = False) -> tuple:
    """CSE-FSL's best accuracy, FSL-SAGE's and CSE-FSL's MiB to it, and their ratio; with
    `last_round`, the phrase says CSE-FSL got there only in its last round, with its whole
    payload."""
    c = j["comparisons"]["to_cse_fsl_best_acc"]
    if last_round:
        assert c["payload_mib"]["cse_fsl"] == j["runs"]["cse_fsl"]["total_payload_mib"]
    return (
        c["acc"],
        c["payload_mib"]["fsl_sage"],
        c["payload_mib"]["cse_fsl"],
        c["fsl_sage/cse_fsl"],
    )


def wire_over_payload(j: dict) -> float:
    """The largest excess of wire MiB over payload MiB of any run, in percent."""
    return 100 * max(r["total_wire_mib"] / r["total_payload_mib"] - 1 for r in j["runs"].values())


def at_most_half(j: dict) -> tuple:
    """No figure is printed; the claim is that every seed's ratio at both targets is <= 0.5."""
    for s in j["seeds"]:
        assert all(seed_ratio(j, s, "fsl_sage/cse_fsl", t) <= 0.5 for t in ("0.8", "0.85")), s
    return ()


def gpu_best(j: dict) -> tuple:
    seed, ratio, _fsl, _cse, *others, _gap = best_reached(j)
    bests = [
        (seed_run(j, s, "fsl_sage")["best_acc"], seed_run(j, s, "cse_fsl")["best_acc"])
        for s in others
    ]
    gaps = [100 * (cse - fsl) for fsl, cse in bests]
    return (seed, ratio, *others, *gaps, *[acc for pair in bests for acc in pair], seed)


def aux_share(tta: dict) -> float:
    """MiB per round CSE-FSL spends on its aux head: its round less FSL-SAGE's non-aligning one,
    which moves the same activations and client model."""
    return mib_per_round(tta, "cse_fsl") - mib_per_round(tta, "fsl_sage")


def int8_mib_per_round(tta: dict, j: dict) -> float:
    """int8 FSL-SAGE's payload in a non-aligning round: its total less the aux heads that come
    down in the aligning rounds (the same as fp32's), over the rounds."""
    heads = mib_per_round(tta, "fsl_sage", aligned=True) - mib_per_round(tta, "fsl_sage")
    aligning = len(range(0, j["rounds"], 10))
    return (j["compression"]["int8"]["total_payload_mib"] - aligning * heads) / j["rounds"]


def int8_figures(j: dict) -> tuple:
    int8, fp32 = j["compression"]["int8"], j["compression"]["fp32"]
    to = [int8["payload_mib_to"][t] / fp32["payload_mib_to"][t] for t in ("0.8", "0.85")]
    assert f"{to[0]:.2f}" == f"{to[1]:.2f}", to
    assert int8["mib_to_cse_fsl_best"] is None
    cse_best = best_of_cse(j)[0]
    return (
        to[0],
        int8["payload_mib_to"]["0.85"] / j["runs"]["cse_fsl"]["payload_mib_to"]["0.85"],
        j["rounds"],
        int8["best_acc"],
        100 * (cse_best - int8["best_acc"]),
        -100 * int8["final_acc_minus_fp32"],
    )


def every_client_figures(runs: list, hosts: int) -> tuple:
    off100, on100, off1000, on1000 = runs
    rise = [off - on for off, on in zip(off1000["peak_rss_mib"][1:], on1000["peak_rss_mib"][1:])]
    return (
        off1000["clients"],
        round(sum(rise) / len(rise), -2),
        *off1000["peak_rss_mib"][1:],
        *on1000["peak_rss_mib"][1:],
        round(off1000["peak_rss_mib"][0] - on1000["peak_rss_mib"][0], -1),
        off1000["peak_rss_mib"][0],
        on1000["peak_rss_mib"][0],
        on100["clients"],
        on1000["peak_rss_mib"][1],
        on100["peak_rss_mib"][1],
        on1000["peak_rss_mib"][1] / on100["peak_rss_mib"][1],
        on1000["per_round"] // hosts,
        on100["per_round"] // hosts,
        on1000["spill_mib"],
        on1000["clients"],
        on100["mean_round_s"] - off100["mean_round_s"],
        on1000["mean_round_s"] - off1000["mean_round_s"],
    )


def ten_thousand_figures(big: dict, small: dict, j: dict) -> tuple:
    samples = override(j, "data.synthetic_size")[0]
    return (
        *big["peak_rss_mib"][1:],
        *small["peak_rss_mib"][1:],
        small["clients"],
        big["peak_rss_mib"][0],
        small["peak_rss_mib"][0],
        small["clients"],
        big["clients"],
        big["spill_mib"] / 1024,
        samples // big["clients"],
        samples // small["clients"],
        small["clients"],
    )


def resnet18_scale_figures(j: dict) -> tuple:
    small, big = j["runs"]
    samples = override(j, "data.synthetic_size")[0]
    return (
        big["clients"],
        *host_ratios(small, big),
        small["clients"],
        *big["peak_rss_mib"][1:],
        *small["peak_rss_mib"][1:],
        big["peak_rss_mib"][0] / small["peak_rss_mib"][0],
        big["peak_rss_mib"][0],
        small["peak_rss_mib"][0],
        big["spill_mib"] / 1024,
        big["clients"],
        samples // big["clients"],
        samples // small["clients"],
    )


def round_s(j: dict, algorithm: str, link: str, aligned: bool = False) -> float:
    return j["results"][algorithm]["round_s"][link]["aligned" if aligned else "plain"]


def declared(j: dict) -> tuple[float, float, float, float]:
    """The declared compute every split algorithm shares: client iteration ms, FedAvg's, server
    step ms, alignment fit s."""
    split = {json.dumps(r["declared_compute"]) for a, r in j["results"].items() if a != "fedavg"}
    assert len(split) == 1, split
    d = j["results"]["cse_fsl"]["declared_compute"]
    fedavg = j["results"]["fedavg"]["declared_compute"]["client_iter_ms"]
    return d["client_iter_ms"], fedavg, d["server_step_ms"], d["align_ms"] / 1000


def hovering(curve: list) -> tuple[int, int, float, float]:
    """The rounds (from 1) from the first at 0.84 to the last before 0.85, and the accuracy range
    over them."""
    start, end = first_round(curve, 0.84), first_round(curve, 0.85) - 1
    accs = [acc for _, acc in curve[start - 1 : end]]
    return start, end, min(accs), max(accs)


def llm_row(j: dict, algorithm: str) -> dict:
    return next(r["ours_mib"] for r in j["rows"] if r["algorithm"] == algorithm)


def whole_budget(j: dict) -> float:
    """The target CSE-FSL reaches only with its whole payload (in its last round)."""
    cse = j["runs"]["cse_fsl"]
    (target,) = [t for t, mib in cse["payload_mib_to"].items() if mib == cse["total_payload_mib"]]
    return float(target)


def quickstart_layout(text: str) -> tuple[int, int, int, int, int, int]:
    """Samples, Fashion-MNIST's training images, clients, client hosts, servers and rounds of the
    quickstart's FSL-SAGE run, as its log prints them."""
    clients, hosts, servers = map(
        int, re.search(r"(\d+) clients on (\d+) client hosts \+ (\d+) server", text).groups()
    )
    per_client = int(re.search(r"samples (\d+)\.\.\1", text).group(1))
    rounds = int(re.search(r"round +1/(\d+)", text).group(1))
    return clients * per_client, FASHION_MNIST_TRAIN, clients, hosts, servers, rounds
