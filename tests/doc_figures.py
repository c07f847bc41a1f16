"""Every number in README.md and docs/*.md, page by page, and what accounts for it.

- FIGURES: results quoted in prose, each a phrase of its page with {} for every figure, the
  file under docs/ it comes from, the value read from that file and the printed precision.
- SETTINGS: what the prose says a result was measured under, against the fields its JSON
  records, in the same form.
- CHECKED_TABLES: the tables tests/test_readme_numbers.py and tests/test_llm_docs.py compare
  cell by cell; SETTING_TABLES: tables of config defaults.
- NOT_RESULTS: numbers that are not results (config values, formula constants, versions, test
  bounds), each with the reason it is not one.
- FLAGS: benchmark flags and the JSON field that records each.

tests/test_doc_figures.py runs the checks; a figure added to a page needs its entry here.
"""

from __future__ import annotations

import re

from doc_memory import (
    MEMORY,
    memory_client_figures,
    memory_fedavg_model_share,
    memory_llm_server,
    memory_server_figures,
    overhead_figures,
)
from doc_text import Figure
from doc_values import (
    CLIENTS,
    LLM,
    LLM_ALIGN_INTERVAL,
    LLM_CLIENTS,
    LLM_TINY,
    LLM_TINY_CLIENTS,
    RN,
    RN_H200,
    RN_SEEDS,
    SC,
    SC_SEEDS,
    TTA_RN,
    TTA_SC,
    at_most_half,
    aux_share,
    best_of_cse,
    best_reached,
    declared,
    every_client_figures,
    first_round,
    gpu_best,
    host_ratios,
    hovering,
    int8_figures,
    int8_mib_per_round,
    llm_row,
    mib_per_round,
    minutes_of_rounds,
    override,
    profiles,
    quickstart_layout,
    quickstart_state_mib,
    recorded_rounds,
    resnet18_scale_figures,
    round_s,
    rounds_for,
    rounds_to,
    seed_ratio,
    seeds_stat,
    sooner,
    speed_up,
    ten_thousand_figures,
    wall_s,
    whole_budget,
    wire_over_payload,
)

R = "README.md"
M = "docs/results.md"
T = "docs/timeline.md"
L = "docs/llm.md"
W = "docs/trust_and_failures.md"
D = "docs/data_and_models.md"
FIGURES: list[Figure] = [
    # README: headline results
    Figure(
        R,
        "**{}× CSE-FSL's payload to reach 75% on average, {}–{} over the seeds**",
        SC_SEEDS,
        lambda j: seeds_stat(j, "ratios", "fsl_sage/cse_fsl", "0.75"),
        ".2f",
    ),
    Figure(
        R,
        "80% is reached by FSL-SAGE with {} of the {} seeds and by CSE-FSL with {w}.",
        SC_SEEDS,
        lambda j: (
            j["over_seeds"]["runs"]["fsl_sage"]["payload_mib_to"]["0.8"]["n"],
            len(j["seeds"]),
            str(j["over_seeds"]["runs"]["cse_fsl"]["payload_mib_to"]["0.8"]["n"] or "none"),
        ),
        ("d", "d", "s"),
    ),
    Figure(
        R,
        "**{}× CSE-FSL's payload to reach 80% on average, {}–{} over the seeds**, and {}× "
        "({}–{}) to reach 85%",
        RN_SEEDS,
        lambda j: (
            seeds_stat(j, "ratios", "fsl_sage/cse_fsl", "0.8")
            + seeds_stat(j, "ratios", "fsl_sage/cse_fsl", "0.85")
        ),
        ".2f",
    ),
    Figure(
        R,
        "reaches CSE-FSL's best with seed {} only ({}× CSE-FSL's payload to it, {} against "
        "{} MiB); with seeds {} and {} it stays up to {} points below",
        RN_SEEDS,
        lambda j: best_reached(j),
        ("d", ".2f", ".1f", ".1f", "d", "d", ".2f"),
    ),
    Figure(
        R,
        "took {} min {} s",
        "quickstart_output.txt",
        lambda text: divmod(round(wall_s(text)), 60),
        "d",
    ),
    # README: time to accuracy
    Figure(
        R,
        "Its 85% columns are CSE-FSL's slowest of four recorded runs to 85% ({} rounds; {} "
        "in the CPU run of seed {}, {} and {} with GPU seeds {} and {}) and FSL-SAGE's "
        "fastest ({}; {}, {} and {} with the GPU seeds), so only the 80% columns hold across "
        "runs (CSE-FSL {} or {} rounds, FSL-SAGE {} or {})",
        (TTA_RN, RN, RN_SEEDS),
        lambda tta, cpu, seeds: recorded_rounds(tta, cpu, seeds),
        "d",
    ),
    Figure(
        R,
        "(on the mobile link {}× sooner to 80% than CSE-FSL, {}× sooner than FedAvg)",
        TTA_RN,
        lambda j: sooner(j, "mobile", "0.8"),
        ".1f",
    ),
    Figure(
        R,
        "Data centre: {} Gbit/s both ways, {} ms RTT; broadband: {} Mbit/s down, {} up, {} "
        "ms; mobile: {} Mbit/s down, {} up, {} ms.",
        TTA_RN,
        profiles,
        "g",
    ),
    # README: many clients
    Figure(
        R,
        "Each host peaks at {}× the {}-client run or less with all {} clients' state",
        "scale_resnet18.json",
        lambda j: (
            max(host_ratios(j["runs"][0], j["runs"][1])),
            j["runs"][0]["clients"],
            j["runs"][1]["clients"],
        ),
        (".2f", "d", ",d"),
    ),
    Figure(
        R,
        "With simple_conv and {} clients per round, {} clients that have all taken part "
        "peak at {} and {} MiB per host with spilling against {} and {} without",
        "scale_every_client.json",
        lambda j: (
            j["runs"][3]["per_round"],
            j["runs"][3]["clients"],
            *j["runs"][3]["peak_rss_mib"][1:],
            *j["runs"][2]["peak_rss_mib"][1:],
        ),
        ("d", ",d", ".0f", ".0f", ".0f", ".0f"),
    ),
    Figure(
        R,
        "and {} that have all taken part at {} and {} MiB",
        "scale_10000_clients.json",
        lambda j: (j["runs"][0]["clients_seen"], *j["runs"][0]["peak_rss_mib"][1:]),
        (",d", ".0f", ".0f"),
    ),
    Figure(
        R,
        "round ends {}× faster with {} participants on {} hosts",
        "averaging_modes.json",
        lambda j: (j["exact_over_reduce"], j["clients"], j["hosts"]),
        (".2f", "d", "d"),
    ),
    # docs/results.md: Results
    Figure(
        M,
        "FSL-SAGE / CSE-FSL payload to 80%: **{}**; FSL-SAGE / SplitFed-v1: **{}**. To reach "
        "CSE-FSL's best accuracy ({}) FSL-SAGE needs {} MiB against CSE-FSL's {} ({}).",
        SC,
        lambda j: (
            j["comparisons"]["fsl_sage/cse_fsl"]["0.8"],
            j["comparisons"]["fsl_sage/splitfed_v1"]["0.8"],
            *best_of_cse(j),
        ),
        (".2f", ".2f", ".4f", ".1f", ".1f", ".2f"),
    ),
    Figure(
        M,
        "Wire MiB (with labels and headers) is within {}% of payload here",
        SC,
        lambda j: "0.1" if wire_over_payload(j) <= 0.1 else f"{wire_over_payload(j):.2f}",
        "s",
    ),
    Figure(
        M,
        "FSL-SAGE / CSE-FSL payload to 75%: **{} on average, {}–{} over the seeds** ({}, {}, "
        "{} for seeds {}, {}, {}).",
        SC_SEEDS,
        lambda j: (
            *seeds_stat(j, "ratios", "fsl_sage/cse_fsl", "0.75"),
            *[seed_ratio(j, s, "fsl_sage/cse_fsl", "0.75") for s in j["seeds"]],
            *j["seeds"],
        ),
        (".2f",) * 6 + ("d",) * 3,
    ),
    Figure(
        M,
        "FSL-SAGE needs {}× its payload on average, {}–{} ({}, {}, {}): with seed {} it needs "
        "slightly more",
        SC_SEEDS,
        lambda j: (
            *seeds_stat(j, "ratios", "to_cse_fsl_best_acc"),
            *[seed_ratio(j, s, "to_cse_fsl_best_acc") for s in j["seeds"]],
            *[s for s in j["seeds"] if seed_ratio(j, s, "to_cse_fsl_best_acc") > 1],
        ),
        (".2f",) * 6 + ("d",),
    ),
    Figure(
        M,
        "FSL-SAGE saves only ~{}% per round ({} vs {} MiB); the {}× to 80% comes from "
        "reaching it in fewer rounds ({} against {}). SplitFed moves every activation and its "
        "gradient ({} MiB per round), FedAvg the full {} MiB model up and down per client ({} "
        "MiB per round).",
        (TTA_SC, SC, "quickstart_output.txt"),
        lambda tta, sc, text: (
            100 * (1 - mib_per_round(tta, "fsl_sage") / mib_per_round(tta, "cse_fsl")),
            mib_per_round(tta, "fsl_sage"),
            mib_per_round(tta, "cse_fsl"),
            1 / sc["comparisons"]["fsl_sage/cse_fsl"]["0.8"],
            tta["results"]["fsl_sage"]["rounds_to"]["0.8"],
            tta["results"]["cse_fsl"]["rounds_to"]["0.8"],
            mib_per_round(tta, "splitfed_v1"),
            quickstart_state_mib(text, "client") + quickstart_state_mib(text, "server"),
            mib_per_round(tta, "fedavg"),
        ),
        (".0f", ".1f", ".1f", ".0f", "d", "d", ".1f", ".1f", ".1f"),
    ),
    Figure(
        M,
        "coincide round for round, at {}× the bytes",
        SC,
        lambda j: (
            j["runs"]["splitfed_v1"]["total_payload_mib"] / j["runs"]["fedavg"]["total_payload_mib"]
        ),
        ".1f",
    ),
    Figure(
        M,
        "To reach CSE-FSL's best accuracy ({}, reached only in its last round: a target read "
        "off CSE-FSL's curve after the run, which costs CSE-FSL its whole budget) FSL-SAGE "
        "needs {} MiB against CSE-FSL's {}: {}× (it first gets there in round {}, at {}). To "
        "80% / 85% it needs {}× / {}× of CSE-FSL's payload and {}× / {}× of SplitFed-v1's. Its "
        "final accuracy is {} points below FedAvg's ({} against {})",
        (RN, TTA_RN),
        lambda j, tta: (
            *best_of_cse(j, last_round=True),
            rounds_for(j["comparisons"]["to_cse_fsl_best_acc"]["payload_mib"]["fsl_sage"], tta),
            j["runs"]["fsl_sage"]["best_acc"],
            *[
                j["comparisons"][k][t]
                for k in ("fsl_sage/cse_fsl", "fsl_sage/splitfed_v1")
                for t in ("0.8", "0.85")
            ],
            100 * (j["runs"]["fedavg"]["final_acc"] - j["runs"]["fsl_sage"]["final_acc"]),
            j["runs"]["fsl_sage"]["final_acc"],
            j["runs"]["fedavg"]["final_acc"],
        ),
        (".4f", ".1f", ".1f", ".2f", "d", ".4f", ".2f", ".2f", ".2f", ".2f", ".2f", ".4f", ".4f"),
    ),
    Figure(
        M,
        "FSL-SAGE / CSE-FSL payload to 80%: **{} on average, {}–{} over the seeds** ({}, {}, "
        "{} for seeds {}, {}, {}); to 85%: {} ({}–{}); FSL-SAGE / SplitFed-v1 to 80%: {} "
        "({}–{}).",
        RN_SEEDS,
        lambda j: (
            *seeds_stat(j, "ratios", "fsl_sage/cse_fsl", "0.8"),
            *[seed_ratio(j, s, "fsl_sage/cse_fsl", "0.8") for s in j["seeds"]],
            *j["seeds"],
            *seeds_stat(j, "ratios", "fsl_sage/cse_fsl", "0.85"),
            *seeds_stat(j, "ratios", "fsl_sage/splitfed_v1", "0.8"),
        ),
        (".2f",) * 6 + ("d",) * 3 + (".2f",) * 6,
    ),
    Figure(
        M,
        "with every seed FSL-SAGE needs at most half of CSE-FSL's payload",
        RN_SEEDS,
        at_most_half,
        (),
    ),
    Figure(
        M,
        'the single-seed "reaches CSE-FSL\'s best accuracy with {}× its payload": only with '
        "seed {} does FSL-SAGE's best accuracy reach CSE-FSL's ({}× on the GPU); with seeds {} "
        "and {} its best stays {} and {} points below CSE-FSL's best ({} against {}, {} "
        "against {}). The GPU run of seed {} reproduces",
        (RN, RN_SEEDS),
        lambda cpu, j: (
            cpu["comparisons"]["to_cse_fsl_best_acc"]["fsl_sage/cse_fsl"],
            *gpu_best(j),
        ),
        (".2f", "d", ".2f", "d", "d", ".2f", ".2f", ".4f", ".4f", ".4f", ".4f", "d"),
    ),
    Figure(
        M,
        "({} MiB per client: {}% of its {} MiB per round); FSL-SAGE sends it only down "
        "and only in alignment rounds ({} MiB per round, {} MiB in rounds",
        TTA_RN,
        lambda j: (
            aux_share(j) / CLIENTS,
            100 * aux_share(j) / mib_per_round(j, "cse_fsl"),
            mib_per_round(j, "cse_fsl"),
            mib_per_round(j, "fsl_sage"),
            mib_per_round(j, "fsl_sage", aligned=True),
        ),
        (".2f", ".0f", ".1f", ".1f", ".1f"),
    ),
    Figure(
        M,
        "So FSL-SAGE moves {}× of CSE-FSL's bytes per round",
        TTA_RN,
        lambda j: mib_per_round(j, "fsl_sage") / mib_per_round(j, "cse_fsl"),
        ".2f",
    ),
    Figure(
        M,
        "MB model both ways ({} MiB per round)",
        TTA_RN,
        lambda j: mib_per_round(j, "fedavg"),
        ".1f",
    ),
    Figure(
        M,
        "(load average {} before, {}–{} after)",
        "async_align_resnet18.json",
        lambda j: (
            j["load_average_1_5_15_min"]["before"][0],
            min(j["load_average_1_5_15_min"]["after"]),
            max(j["load_average_1_5_15_min"]["after"]),
        ),
        ".0f",
    ),
    # docs/results.md: Performance
    Figure(
        M,
        "ranks run FSL-SAGE {}× faster ({} → {} s)",
        "round_time.json",
        lambda j: (
            speed_up(j, "fsl_sage", "3 ranks") / speed_up(j, "fsl_sage", "in-process, 1 thread"),
            j["results"]["fsl_sage"]["in-process, 1 thread"]["steady_s"],
            j["results"]["fsl_sage"]["3 ranks"]["steady_s"],
        ),
        (".2f", ".1f", ".1f"),
    ),
    Figure(
        M,
        "the gain is **{}–{}×**",
        "round_time.json",
        lambda j: tuple(sorted(speed_up(j, a, "3 ranks") for a in j["results"])),
        ".2f",
    ),
    Figure(
        M,
        "a whole in-process round is {}× faster on two threads than on one (CSE-FSL, {} → {} "
        "s above). Distribution can only win what intra-op threading leaves idle, so the "
        "ceiling here is about {} / {} = {}×",
        "round_time.json",
        lambda j: (
            1 / speed_up(j, "cse_fsl", "in-process, 1 thread"),
            j["results"]["cse_fsl"]["in-process, 1 thread"]["steady_s"],
            j["results"]["cse_fsl"]["in-process, all cores"]["steady_s"],
            j["cores"],
            1 / speed_up(j, "cse_fsl", "in-process, 1 thread"),
            j["cores"] * speed_up(j, "cse_fsl", "in-process, 1 thread"),
        ),
        (".2f", ".1f", ".1f", "d", ".2f", ".2f"),
    ),
    Figure(
        M,
        "hence {}–{}×",
        "round_time.json",
        lambda j: tuple(sorted(speed_up(j, a, "2 ranks") for a in j["results"])),
        ".2f",
    ),
    Figure(
        M,
        "CSE-FSL's best accuracy is {}, reached with {} MiB",
        RN,
        lambda j: best_of_cse(j)[:3:2],
        (".4f", ".1f"),
    ),
    Figure(
        M,
        "int8 cuts FSL-SAGE's bytes per round from {} to {} MiB",
        (TTA_RN, RN),
        lambda tta, j: (mib_per_round(tta, "fsl_sage"), int8_mib_per_round(tta, j)),
        ".1f",
    ),
    Figure(
        M,
        "reaches 80% and 85% with {}× of fp32's MiB ({}× of CSE-FSL's MiB to 85%). It did "
        "not reach CSE-FSL's best accuracy within {} rounds: its best, {}, is {} points short, "
        "and it ends {} points below fp32",
        RN,
        lambda j: int8_figures(j),
        (".2f", ".2f", "d", ".4f", ".2f", ".2f"),
    ),
    Figure(
        M,
        "how much of the {} points is noise",
        RN,
        lambda j: -100 * j["compression"]["int8"]["final_acc_minus_fp32"],
        ".2f",
    ),
    Figure(
        M,
        "({} rounds at the s/round above are {} min for fp32 and {} min for int8 here",
        RN,
        lambda j: (
            j["rounds"],
            *[j["rounds"] * j["compression"][d]["s_per_round"] / 60 for d in ("fp32", "int8")],
        ),
        ("d", ".0f", ".0f"),
    ),
    Figure(
        M,
        "The server's peak stays flat from {} to {} clients here, but these runs sampled at "
        "most {} distinct clients ({} per round, {} rounds)",
        "scale.json",
        lambda j: (
            j["runs"][0]["clients"],
            j["runs"][-1]["clients"],
            j["per_round"] * j["rounds"],
            j["per_round"],
            j["rounds"],
        ),
        "d",
    ),
    Figure(
        M,
        "(the sampling is a function of the seed: {} rounds for N = {}, {} for N = {})",
        "scale_every_client.json",
        lambda j: (
            j["runs"][0]["rounds"],
            j["runs"][0]["clients"],
            j["runs"][2]["rounds"],
            j["runs"][2]["clients"],
        ),
        "d",
    ),
    Figure(
        M,
        "at N = {} each host peaks ~{} MiB higher without spilling ({} and {} MiB against {} "
        "and {}), the server ~{} MiB higher ({} against {}). With spilling the hosts stay near "
        "the N = {} figure ({} against {} MiB, {}×, though each host trains {} clients at a "
        "time instead of {}) and the state moves to disk ({} MiB for {} clients). The round "
        "times come from a machine shared with other jobs: spilling added {} s and {} s",
        "scale_every_client.json",
        lambda j: every_client_figures(j["runs"], j["hosts"]),
        (
            "d",
            ".0f",
            ".0f",
            ".0f",
            ".0f",
            ".0f",
            ".0f",
            ".0f",
            ".0f",
            "d",
            ".0f",
            ".0f",
            ".1f",
            "d",
            "d",
            ".0f",
            "d",
            ".1f",
            ".1f",
        ),
    ),
    Figure(
        M,
        "the {} has taken part (`docs/scale_10000_clients.json`; {} rounds of {} s, {} "
        "minutes of rounds here)",
        "scale_10000_clients.json",
        lambda j: (j["runs"][0]["clients_seen"], *minutes_of_rounds(j["runs"][0])),
        (",d", "d", ".2f", ".1f"),
    ),
    Figure(
        M,
        "The hosts peak at {} and {} MiB against {} and {} at N = {} and the server at {} "
        "against {}: flat from {} to {} clients, with {} GiB of client state on disk. (Each "
        "client has {} samples here, one batch, against {} at N = {}.)",
        ("scale_10000_clients.json", "scale_every_client.json"),
        lambda big, small: ten_thousand_figures(big["runs"][0], small["runs"][3], big),
        (".0f", ".0f", ".0f", ".0f", "d", ".0f", ".0f", ",d", ",d", ".1f", "d", "d", "d"),
    ),
    Figure(
        M,
        "{} clients per round for both N, so that only N changes: N = {} for {} rounds "
        "(every client in every round) and N = {} for the {} rounds it takes until every "
        "client has taken part ({} participations)",
        "scale_resnet18.json",
        lambda j: (
            j["per_round"],
            j["runs"][0]["clients"],
            j["runs"][0]["rounds"],
            j["runs"][1]["clients"],
            j["runs"][1]["rounds"],
            j["runs"][1]["rounds"] * j["per_round"],
        ),
        ("d", "d", "d", "d", "d", ",d"),
    ),
    Figure(
        M,
        "({} rounds of {} s, {} minutes of rounds for N = {})",
        "scale_resnet18.json",
        lambda j: (*minutes_of_rounds(j["runs"][1]), j["runs"][1]["clients"]),
        ("d", ".2f", ".1f", "d"),
    ),
    Figure(
        M,
        "would hold the {} GiB that were spilled",
        "scale_resnet18.json",
        lambda j: j["runs"][1]["spill_mib"] / 1024,
        ".1f",
    ),
    Figure(
        M,
        "With every one of {} ResNet-18 clients having taken part, each host peaks **{}× "
        "and {}×** the {}-client run ({} and {} MiB against {} and {}) and the server {}× ({} "
        "against {}), while {} GiB of client state sits on disk. (s/round is lower at N = {} "
        "because each client has {} samples instead of {}.)",
        "scale_resnet18.json",
        lambda j: resnet18_scale_figures(j),
        (
            ",d",
            ".2f",
            ".2f",
            "d",
            ".0f",
            ".0f",
            ".0f",
            ".0f",
            ".2f",
            ".0f",
            ".0f",
            ".1f",
            "d",
            "d",
            ",d",
        ),
    ),
    Figure(
        M,
        "the aux head, ~{} MiB per client)",
        "scale_every_client.json",
        lambda j: j["runs"][3]["spill_mib"] / j["runs"][3]["clients"],
        ".0f",
    ),
    Figure(
        "docs/running.md",
        "about {} MiB per client, host and server together",
        "scale_every_client.json",
        lambda j: j["runs"][3]["spill_mib"] / j["runs"][3]["clients"],
        ".0f",
    ),
    # docs/timeline.md
    Figure(
        T,
        "(medians, `declared_compute` in the JSON): a client iteration {} ms (FedAvg's, the "
        "whole model, {} ms), a server step {} ms, an FSL-SAGE alignment fit {} s.",
        TTA_SC,
        lambda j: declared(j),
        (".0f", ".0f", ".0f", ".1f"),
    ),
    Figure(
        T, "never wait ({} s a round)", TTA_SC, lambda j: round_s(j, "fedavg", "data centre"), ".1f"
    ),
    Figure(
        T,
        "serves the 10 clients one after another ({} s); CSE-FSL's rounds are as short ({} "
        "s) but it needs {} of them; SplitFed-v2 serves whole turns, one client after another "
        "({} s a round). FSL-SAGE needs as few rounds as FedAvg, but its first round aligns all "
        "10 aux heads, one after another on the server, {} s each: {} s for round",
        TTA_SC,
        lambda j: (
            round_s(j, "splitfed_v1", "data centre"),
            round_s(j, "cse_fsl", "data centre"),
            j["results"]["cse_fsl"]["rounds_to"]["0.8"],
            round_s(j, "splitfed_v2", "data centre"),
            declared(j)[3],
            round_s(j, "fsl_sage", "data centre", aligned=True),
        ),
        (".1f", ".1f", "d", ".1f", ".1f", ".0f"),
    ),
    Figure(
        T,
        "FedAvg sends the whole model up every round ({} MiB a round for the 10 clients: {} "
        "s), SplitFed every activation batch up and its gradient down ({} MiB: {} s, and each of "
        "its iterations also waits a round trip), while CSE-FSL and FSL-SAGE send one batch in "
        "five and no gradients ({} and {} MiB: {} and {} s a round). CSE-FSL becomes the "
        "fastest to 80% ({} min) and FSL-SAGE, still paying its alignment round, is second ({} "
        "min) ahead of FedAvg ({} min). SplitFed-v2's turns put the clients' transfers one "
        "after another instead of side by side ({} min)",
        TTA_SC,
        lambda j: (
            mib_per_round(j, "fedavg"),
            round_s(j, "fedavg", "mobile"),
            mib_per_round(j, "splitfed_v1"),
            round_s(j, "splitfed_v1", "mobile"),
            mib_per_round(j, "cse_fsl"),
            mib_per_round(j, "fsl_sage"),
            round_s(j, "cse_fsl", "mobile"),
            round_s(j, "fsl_sage", "mobile"),
            *[
                j["results"][a]["time_to_s"]["mobile"]["0.8"] / 60
                for a in ("cse_fsl", "fsl_sage", "fedavg", "splitfed_v2")
            ],
        ),
        ".1f",
    ),
    Figure(
        T,
        "(FedAvg and SplitFed-v1 {} rounds instead of {}, CSE-FSL {} instead of {}: from "
        "round {} to {} it stays between {} and {})",
        (RN_H200, RN),
        lambda gpu, cpu: (
            first_round(gpu["runs"]["fedavg"]["acc_by_round"], 0.85),
            rounds_to(cpu["runs"]["fedavg"], "0.85"),
            first_round(gpu["runs"]["cse_fsl"]["acc_by_round"], 0.85),
            rounds_to(cpu["runs"]["cse_fsl"], "0.85"),
            *hovering(gpu["runs"]["cse_fsl"]["acc_by_round"]),
        ),
        ("d",) * 6 + (".2f", ".2f"),
    ),
    Figure(
        T,
        "measured on the H200: a client iteration {} ms (FedAvg's, the whole model, {} ms), a "
        "server step {} ms, an FSL-SAGE alignment fit {} s.",
        TTA_RN,
        lambda j: declared(j),
        (".1f", ".1f", ".1f", ".2f"),
    ),
    Figure(
        T,
        "CSE-FSL's {} rounds are the slowest of its four recorded runs to 85% ({} in the CPU "
        "run, {} and {} with GPU seeds {} and {} in `docs/bytes_to_accuracy_resnet18_seeds_h200"
        ".json`), and FSL-SAGE's {} are as fast as its CPU run and faster than any of the three "
        "GPU seeds there ({}, {} and {}). To 80% the recorded runs agree within a round "
        "(CSE-FSL {} or {}, FSL-SAGE {} or {})",
        (TTA_RN, RN, RN_SEEDS),
        lambda tta, cpu, seeds: (lambda r: r[:2] + r[3:])(recorded_rounds(tta, cpu, seeds)),
        "d",
    ),
    Figure(
        T,
        "(ten {} s fits one after another: {} s)",
        TTA_RN,
        lambda j: (declared(j)[3], round_s(j, "fsl_sage", "data centre", aligned=True)),
        (".2f", ".1f"),
    ),
    Figure(
        T,
        "FedAvg moves the whole model ({} MiB a round for the 10 clients: {} s on the mobile "
        "link), SplitFed {} MiB ({} s for v1; {} s for v2, whose turns serialise the clients' "
        "transfers), CSE-FSL {} MiB ({} s: its client-side aux head, averaged every round, is "
        "large for this cut) and FSL-SAGE {} MiB ({} s; {} MiB and {} s in an alignment round",
        TTA_RN,
        lambda j: (
            mib_per_round(j, "fedavg"),
            round_s(j, "fedavg", "mobile"),
            mib_per_round(j, "splitfed_v1"),
            round_s(j, "splitfed_v1", "mobile"),
            round_s(j, "splitfed_v2", "mobile"),
            mib_per_round(j, "cse_fsl"),
            round_s(j, "cse_fsl", "mobile"),
            mib_per_round(j, "fsl_sage"),
            round_s(j, "fsl_sage", "mobile"),
            mib_per_round(j, "fsl_sage", aligned=True),
            round_s(j, "fsl_sage", "mobile", aligned=True),
        ),
        (".0f", ".0f", ".0f", ".0f", ".0f", ".0f", ".0f", ".0f", ".1f", ".0f", ".0f"),
    ),
    Figure(
        T,
        "FSL-SAGE reaches 80% in {} simulated minutes, {}× sooner than CSE-FSL and {}× sooner "
        "than FedAvg. (To 85% it needs {} minutes against CSE-FSL's {},",
        TTA_RN,
        lambda j: (
            j["results"]["fsl_sage"]["time_to_s"]["mobile"]["0.8"] / 60,
            *sooner(j, "mobile", "0.8"),
            *[j["results"][a]["time_to_s"]["mobile"]["0.85"] / 60 for a in ("fsl_sage", "cse_fsl")],
        ),
        ".1f",
    ),
    # docs/llm.md
    Figure(
        L,
        "blocks, {} MiB each) go down once per 10 rounds",
        LLM,
        lambda j: llm_row(j, "fsl_sage")["aux_model"] * LLM_ALIGN_INTERVAL / LLM_CLIENTS,
        ".0f",
    ),
    Figure(
        L,
        "r 4) is {} KiB. FedAvg moves only LoRA tensors here (all 24 blocks: {} MiB per "
        "client and direction)",
        LLM,
        lambda j: (
            llm_row(j, "splitfed_v1")["client_model"] * 1024 / (2 * LLM_CLIENTS),
            llm_row(j, "fedavg")["client_model"] / (2 * LLM_CLIENTS),
        ),
        (".0f", ".1f"),
    ),
    Figure(
        L,
        "The targets {} and {} were chosen after looking at the runs' curves, not in "
        "advance; CSE-FSL reaches {} only in its last round, so its MiB to {} is its whole "
        "budget.",
        LLM_TINY,
        lambda j: (*j["targets"], *[whole_budget(j)] * 2),
        "g",
    ),
    Figure(
        L,
        "FSL-SAGE reaches {} with {}× CSE-FSL's payload (CSE-FSL's whole {} rounds) and {}× "
        "SplitFed-v1's",
        LLM_TINY,
        lambda j: (
            whole_budget(j),
            j["comparisons"]["fsl_sage/cse_fsl"]["0.2"],
            j["rounds"],
            j["comparisons"]["fsl_sage/splitfed_v1"]["0.2"],
        ),
        ("g", ".2f", "d", ".2f"),
    ),
    Figure(
        L,
        "the loss plateaus near {}",
        LLM_TINY,
        lambda j: sum(r["final_loss"] for r in j["runs"].values()) / len(j["runs"]),
        ".1f",
    ),
    Figure(
        L,
        "(slot error rate {})",
        LLM_TINY,
        lambda j: min(r["final_ser"] for r in j["runs"].values()),
        ".2f",
    ),
    # docs/trust_and_failures.md
    Figure(
        W,
        "{} µs of framing work per {} MiB ResNet-18 batch; end to end a framed {} MiB "
        "message took {} ms against {} ms bare, {}% more (medians of {} messages",
        "wire_framing.json",
        lambda j: (
            j["framing_work_s_per_message"] * 1e6,
            *[j["payload_bytes"] / 2**20] * 2,
            j["median_s_per_message_framed"] * 1e3,
            j["median_s_per_message_bare"] * 1e3,
            100 * (j["median_s_per_message_framed"] / j["median_s_per_message_bare"] - 1),
            j["messages"],
        ),
        (".0f", "g", "g", ".3f", ".3f", ".1f", "d"),
    ),
    # docs/data_and_models.md
    Figure(
        D,
        "two class patterns lie {} noise σ apart at contrast 1, yet the faint images are "
        "ambiguous, so even the ideal classifier (which knows the patterns) reaches only {} and "
        "nearest class mean {}; after {} rounds of the default synthetic job every algorithm is "
        "well above chance (FedAvg {}, SplitFed-v1 {}, SplitFed-v2 {}, CSE-FSL {}, FSL-SAGE {}; "
        "chance {})",
        "synthetic_difficulty.json",
        lambda j: (
            j["pattern_distance_noise_sigmas"],
            j["ideal_classifier_test_acc"],
            j["nearest_mean_test_acc"],
            len(j["test_acc_after_rounds_1_2"]["fedavg"]),
            *[accs[-1] for accs in j["test_acc_after_rounds_1_2"].values()],
            1 / int(re.search(r"(\d+) classes", j["setting"]).group(1)),
        ),
        (".1f", "g", "g", "d", "g", "g", "g", "g", "g", "g"),
    ),
    # README: client memory, and docs/results.md's memory by part (benchmarks/memory.py)
    Figure(
        R,
        "needs **{}× FedAvg's memory at 1×28×28 and {}× at 3×32×32**: it trains only the layers "
        "before the cut and keeps its aux head's weights, where a FedAvg client holds the whole "
        "model with its gradients and Adam moments. At 3×32×32 it needs {}× CSE-FSL's (whose "
        "client also trains its aux head) but {}× SplitFed's",
        MEMORY,
        memory_client_figures,
        ".2f",
    ),
    Figure(
        R,
        "up to {} stored smashed rows for every participant, {}× CSE-FSL's and SplitFed-v2's "
        "server peak",
        MEMORY,
        memory_server_figures,
        (",d", ".2f"),
    ),
    Figure(R, "server's blocks at once: {}× CSE-FSL's", MEMORY, memory_llm_server, ".2f"),
    Figure(
        R,
        "rounds took {} s against {} s with it off (the median of {} runs each, alternating, "
        "on one thread; the runs spread more than that), and its own work was {}% of a timed "
        "run's round time",
        MEMORY,
        overhead_figures,
        (".2f", ".2f", "d", ".1f"),
    ),
    Figure(
        M,
        "({} MiB of weights before the cut): activations dominate every client but FedAvg's, "
        "whose whole model with its gradients and Adam moments is {}% of its peak",
        MEMORY,
        memory_fedavg_model_share,
        (".1f", ".0f"),
    ),
]

SETTINGS: list[Figure] = [
    Figure(
        "docs/running.md",
        "s/round is the mean of rounds {} and {} of {}.",
        "averaging_modes.json",
        lambda j: (1, j["rounds"] - 2, j["rounds"]),
        "d",
    ),
    Figure(
        R,
        "three seeds** (reduced: {} samples per client, {} rounds)",
        SC_SEEDS,
        lambda j: (j["train_limit"] // CLIENTS, j["rounds"]),
        "d",
    ),
    Figure(
        R,
        "FSL-SAGE with ResNet-18, {} clients per round, until every client has taken part, "
        "{} hosts + the server ({}×{}×{} synthetic inputs",
        "scale_resnet18.json",
        lambda j: (j["per_round"], j["hosts"], *override(j, "data.synthetic_shape")),
        "d",
    ),
    Figure(
        R,
        "Fashion-MNIST ({} of the {} images over {} clients on {} client hosts + {} server, "
        "{} rounds",
        "quickstart_output.txt",
        quickstart_layout,
        (",d", ",d", "d", "d", "d", "d"),
    ),
    Figure(
        M,
        "`data.train_limit={}`, i.e. {} samples per client, {} rounds, batch 128",
        SC,
        lambda j: (j["train_limit"], j["train_limit"] // CLIENTS, j["rounds"]),
        "d",
    ),
    Figure(
        M,
        "`data.train_limit={}`, i.e. {} samples per client, {} rounds, so alignment",
        SC_SEEDS,
        lambda j: (j["train_limit"], j["train_limit"] // CLIENTS, j["rounds"]),
        "d",
    ),
    Figure(
        M,
        "`data.train_limit={}`, i.e. {} samples per client, {} rounds, batch 256",
        RN,
        lambda j: (j["train_limit"], j["train_limit"] // CLIENTS, j["rounds"]),
        "d",
    ),
    Figure(M, "min–max over seeds {}, {}, {}):", SC_SEEDS, lambda j: tuple(j["seeds"]), "d"),
    Figure(M, "min–max over seeds {}, {}, {}):", RN_SEEDS, lambda j: tuple(j["seeds"]), "d"),
    Figure(
        M,
        "reduced: {} rounds, l = {} so rounds {} and {} align, `fsl.align_epochs={}`",
        "async_align_resnet18.json",
        lambda j: (
            j["rounds"],
            j["align_interval"],
            *range(0, j["rounds"], j["align_interval"]),
            j["align_epochs"],
        ),
        "d",
    ),
    Figure(
        M,
        "simple_conv, {} clients ({} samples each)",
        "round_time.json",
        lambda j: (CLIENTS, j["train_limit"] // CLIENTS),
        "d",
    ),
    Figure(
        M,
        "Steady = mean of rounds {}–{}; round {} includes",
        "round_time.json",
        lambda j: (1, j["rounds"] - 1, 0),
        "d",
    ),
    Figure(
        M, "and on {} cores it cannot be much more", "round_time.json", lambda j: j["cores"], "d"
    ),
    Figure(
        M,
        "FSL-SAGE, {} Fashion-MNIST samples shared by N clients, {} sampled per round, {} "
        "client hosts + the server, {} rounds",
        "scale.json",
        lambda j: (j["train_limit"], j["per_round"], j["hosts"], j["rounds"]),
        (",d", "d", "d", "d"),
    ),
    Figure(M, "(≤ {} per round)", "scale.json", lambda j: j["per_round"], "d"),
    Figure(
        M,
        "FSL-SAGE with simple_conv, {} synthetic {}×{}×{} samples shared by N clients, a tenth "
        "of them sampled per round, {} client hosts",
        "scale_every_client.json",
        lambda j: (
            override(j, "data.synthetic_size")[0],
            *override(j, "data.synthetic_shape"),
            j["hosts"],
        ),
        (",d", "d", "d", "d", "d"),
    ),
    Figure(
        M,
        "Ten times more clients, {} per round as at N = {} above",
        ("scale_10000_clients.json", "scale_every_client.json"),
        lambda big, small: (big["per_round"], small["runs"][3]["clients"]),
        "d",
    ),
    Figure(
        T,
        "iid clients of {} samples, the bytes-to-accuracy",
        SC,
        lambda j: j["train_limit"] // CLIENTS,
        "d",
    ),
    Figure(
        T,
        "data centre link ({} Gbit/s both ways, {} ms RTT), broadband ({} Mbit/s down, {} up, "
        "{} ms) and a mobile link ({} Mbit/s down, {} up, {} ms)",
        TTA_SC,
        profiles,
        "g",
    ),
    Figure(T, "those of the recorded {}-round runs", SC, lambda j: j["rounds"], "d"),
    Figure(
        T,
        "iid clients of {} Fashion-MNIST samples",
        RN_H200,
        lambda j: j["train_limit"] // CLIENTS,
        ",d",
    ),
    Figure(T, "all {} rounds of the five algorithms at once", RN_H200, lambda j: j["rounds"], "d"),
    Figure(
        L,
        "reduced to {} sequences of {} bytes per client and {} rounds",
        LLM_TINY,
        lambda j: (
            override(j, "data.synthetic_size")[0] // LLM_TINY_CLIENTS,
            override(j, "data.seq_len"),
            j["rounds"],
        ),
        "d",
    ),
    Figure(
        D,
        "at the defaults ({} / {} images of {}×{}×{}, {} classes)",
        "synthetic_difficulty.json",
        lambda j: tuple(
            map(
                int,
                re.search(
                    r"(\d+)/(\d+) images of (\d+)x(\d+)x(\d+), (\d+) "
                    r"classes",
                    j["setting"],
                ).groups(),
            )
        ),
        (",d", "d", "d", "d", "d", "d"),
    ),
    # README: client memory, the settings (docs/memory.json, benchmarks/memory.py)
    Figure(
        R,
        "the server with {} clients in every round, as in the paper configs",
        MEMORY,
        lambda j: j["participants"],
        "d",
    ),
    Figure(
        R,
        "ResNet-18 (batch {}, cut after layer2, ImageNet stem, the default aux head) and "
        "simple_conv (batch {})",
        MEMORY,
        lambda j: (j["models"]["resnet18_cifar"]["batch"], j["models"]["simple_conv"]["batch"]),
        "d",
    ),
    Figure(R, "store full ({} smashed rows each, checked", MEMORY, lambda j: j["store_size"], ",d"),
    Figure(
        R,
        "(batch {} × {} tokens, a store of {} rows per client as its config sets)",
        MEMORY,
        lambda j: tuple(j["models"]["gpt2_lora"][k] for k in ("batch", "seq_len", "store_size")),
        "d",
    ),
]

# Header rows of the tables that test_readme_numbers.py and test_llm_docs.py check cell by cell.
CHECKED_TABLES = {
    # test_readme_numbers.py
    "algorithm | final acc | best acc | payload MiB to 80% | payload MiB to 85% | "
    "total payload MiB | s/round",
    "algorithm | final acc | best acc | payload MiB to 75% | payload MiB to 80% | "
    "total payload MiB",
    "algorithm | final acc | best acc | payload MiB to 80% | payload MiB to 85% | "
    "total payload MiB",
    "algorithm | layout | round 0 s | steady s/round | speed-up",
    "FSL-SAGE wire dtype | final acc | vs fp32 | best acc | payload MiB to 80% | to 85% | "
    "MiB to CSE-FSL's best | / CSE-FSL",
    "clients | samples per round | s/round | peak RSS MiB server | host 1 | host 2",
    "participants | hosts | exact s/round | reduce s/round | exact / reduce",
    "algorithm | rounds to 80% / 85% | data centre: 80% | data centre: 85% | broadband: 80% | "
    "broadband: 85% | mobile: 80% | mobile: 85%",
    "clients | per round | rounds | took part | spill | s/round | spilled MiB | "
    "peak RSS MiB server | host 1 | host 2",
    "clients | per round | rounds | spill | s/round | spilled MiB | peak RSS MiB server | "
    "host 1 | host 2",
    "mode | alignment rounds, mean s | other round, s | acc after round 3 | payload MiB",
    "model | side | FedAvg | SplitFed-v1 | SplitFed-v2 | CSE-FSL | FSL-SAGE | "
    "FSL-SAGE / FedAvg | / CSE-FSL | / SplitFed-v1 | / SplitFed-v2",
    "model | algorithm | side | params | frozen | grads | optimizer | aux | activations | "
    "inputs | peak",
    # test_llm_docs.py
    "algorithm | activations | cut grads | client model | aux model | payload | "
    "labels (wire) | reference counter | reference / ours",
    "algorithm | payload MiB per round | reference counter",
    "algorithm | final test loss | final next-token acc | slot error rate | "
    "payload MiB to acc 0.2 | total payload MiB | s/round",
}

# Tables of config keys and their defaults (docs/running.md): settings, not results.
SETTING_TABLES = {"key | default | meaning"}

# (page, or "*" for every page; phrase with {} for each number that is not a result; why).
TARGET = re.compile(r"(?<![\d.])(75|80|85)%")
SHAPE = re.compile(r"(?<![\w.])(\d+)×(\d+)(?:×(\d+))?(?:×(\d+))?(?![\d.])")
NOT_RESULTS: list[tuple[str, str | re.Pattern, str]] = [
    ("*", TARGET, "the accuracy targets, fixed by the benchmarks' --targets"),
    ("*", SHAPE, "tensor and input shapes (channels × height × width, kernel sizes)"),
    ("*", "q = {}", "fsl.server_interval"),
    ("*", "l = {}", "fsl.align_interval"),
    ("*", "**one seed ({})**", "the seed of a single-seed run (the benchmarks' default)"),
    ("*", "seed {}", "a seed a run was made with"),
    ("*", "{} iid clients", "clients.num"),
    ("*", "batch {}", "train.batch_size"),
    ("*", "status {}", "the CLI's exit statuses"),
    ("*", "{}-core", "the development machine"),
    ("*", "ank {}", "rank numbers"),
    ("*", "{} ranks", "a launch layout"),
    ("*", "With {} host,", "a launch layout"),
    ("*", "{} client hosts + the server", "a launch layout"),
    ("*", "N = {}", "the number of clients a row is about"),
    ("*", "N ≥ {}", "the number of clients a row is about"),
    ("*", "{}-byte", "sizes fixed by the wire format (wire/header.py)"),
    (R, "rank {} is the **server**, ranks {}..H", "role numbering"),
    (R, "Python {}", "a version"),
    (R, "(the built-in default: FSL-SAGE on all {} images, {} rounds", "config defaults"),
    (R, "({}·bytes/bandwidth + RTT/{} each)", "the transfer-time formula"),
    (R, "(the paper's setting, {} clients each on its own device", "clients.num"),
    (R, "(GPT-2 medium, {} clients, batch {} × {} tokens)", "the paper config's settings"),
    (R, "the paper's model, batch size, q = {} and l = {}", "the quickstart's settings"),
    (R, "Fashion-MNIST ({} of the {} images", "Fashion-MNIST has 60,000 training images"),
    (
        M,
        "({} CPU cores, {} GiB, no GPU), CPU/Gloo, {} server + {} client hosts",
        "the development machine and the layout",
    ),
    (M, "so alignment only in round {}", "with 10 rounds and l = 10 only round 0 aligns"),
    (M, "The alignment rounds ({} and {})", "the rounds l = 10 aligns in"),
    (M, "in rounds {} and {})", "the rounds l = 10 aligns in"),
    (M, "fits {} aux heads for {} epochs", "clients.num and fsl.align_epochs"),
    (
        M,
        "fits {} aux heads (a ResNet stage each) to up to {} stored rows for {} epochs",
        "clients.num, fsl.store_size and fsl.align_epochs",
    ),
    (
        M,
        "upload one {}-sample smashed batch ({} samples = {} iterations, q = {}: {} × {} × {} B = "
        "{} MiB) and exchange the client model ({} × {} MiB). CSE-FSL adds its aux head up and "
        "down every round ({} × {} MiB); FSL-SAGE sends it down only every {} rounds",
        "byte arithmetic from the model's shape and the batch (tests/test_meter.py checks the "
        "meter against the closed form); the measured MiB per round follow it",
    ),
    (
        M,
        "(client model |C| = {} B with one input channel, aux head |A| = {} B, a smashed row "
        "{}×{}×{}×{} B = {} KiB; per client and round {} samples = {} iterations of {}, so one "
        "upload with q = {}): both lazy algorithms send {} MiB of activations and {} MiB of "
        "client model",
        "model sizes (tests/test_models.py pins them to the byte) and byte arithmetic",
    ),
    (
        M,
        "every iteration ({} MiB per client per round); FedAvg the whole {} MB",
        "byte arithmetic from the model sizes above",
    ),
    (M, "with {} samples per client that is {} iterations", "data.train_limit and the batch"),
    (M, "overlap by more than {}% of the shorter one", "the bound tests/test_run.py asserts"),
    (M, "(overlap {})", "the in-process control's overlap, by construction"),
    (M, "short of a {}× goal", "a goal set before the measurement"),
    (M, "Evaluation runs in batches of {}", "a fixed evaluation batch"),
    (M, "({}× fewer activation bytes)", "fp32 against int8: 4 bytes against 1"),
    (
        M,
        "(activations {} → {} MiB; the client model, {} MiB, is not compressed)",
        "byte arithmetic from the model sizes above",
    ),
    (
        M,
        "with at most {}/{} of CSE-FSL's MiB at most {} points below fp32",
        "a goal set before the measurement",
    ),
    (M, "a test runs {} clients on {} ranks", "a test's setting"),
    (
        M,
        "(two Adam moments, {} × {} MiB for simple_conv but {} × {} MiB for ResNet-18",
        "model sizes (tests/test_models.py)",
    ),
    (M, "so {} clients × a batch of {} are alive at once", "10 per round on 2 hosts, batch 128"),
    (
        M,
        "(an {}×{} cut has {} features, so the aux heads and stored rows are ~{}× smaller than at "
        "{}×{})",
        "arithmetic from the input shapes",
    ),
    (
        M,
        "holds a host of {} CSE-FSL clients that have all taken part to {}× the peak of a "
        "{}-client run",
        "the bound tests/test_spill.py asserts",
    ),
    ("*", re.compile(r"(?<![\w.])(\d+)e-\d+\b"), "tolerances and learning rates"),
    ("*", "(torch {}", "the torch version of a check made by hand"),
    ("*", "(exit {})", "the CLI's exit statuses"),
    ("*", "the {} clients", "clients.num"),
    ("*", "(default {}", "a config default"),
    ("*", "{}-based", "how rounds are numbered"),
    ("*", "{} in q", "one batch in q"),
    ("*", "> {})", "a config threshold"),
    (R, "the paper's model, batch size, q = {} and l = {}", "the quickstart's settings"),
    (T, '"how long to 80% on a {} Mbit/s uplink with {} ms RTT?"', "an example question"),
    (T, "default {} {};", "the CLI's default targets"),
    (
        T,
        "holds the link for {}·b/W seconds and arrives rtt/{} after it leaves, so one message "
        "alone takes {}·b/W + rtt/{}",
        "the transfer-time formula",
    ),
    (T, "s for round {},", "the first round"),
    (W, "differed from round {} in", "the first round"),
    (T, "at it = {} of", "an iteration index"),
    (T, "(iteration it + {} starts", "an iteration index"),
    (T, "(a phone {}× slower", "an example setting"),
    (T, "each of its {} iterations", "600 samples in batches of 128"),
    (T, "aligns all {} aux heads", "clients.num"),
    (T, "({} up, {} down)", "the message log's encoding"),
    (
        L,
        "(4 blocks, d {}, {} heads, context {}; {} rather than {} because an E2E pair is about {} "
        "bytes)",
        "the tiny model's shape and the reason for its context",
    ),
    (L, "`tiny` ({} blocks,", "the tiny model's shape"),
    (L, "`lora.r` {}, `lora.alpha` {})", "config defaults"),
    (L, "`lora.dropout` defaults to {} rather than the reference's {}:", "config defaults"),
    (L, "The paper config sets {}.", "a config setting"),
    (L, "the name and {} to {} other slots", "the generator's setting"),
    (L, "scaled by {}/|batch|", "a formula"),
    (L, "bytes ({} ids + PAD + EOS)", "the byte tokenizer's vocabulary"),
    (L, "(default 8, {} in the tiny configs)", "config defaults"),
    (L, "the longest reference + {} tokens", "a decoding cap"),
    (
        L,
        "({} clients, batch {} × {} tokens, q {}, l {}, LoRA r {}, cut after {} block)",
        "the paper config's settings",
    ),
    (L, "aux heads ({} blocks,", "model.aux_blocks"),
    (L, "once per {} rounds, so its row is the mean over {} rounds", "fsl.align_interval"),
    (
        L,
        "a {} × {} attention-mask buffer per block and the {} × {} embedding matrix",
        "GPT-2 medium's shapes",
    ),
    (
        L,
        "one upload is {} × {} × {} float32 = {} MiB of hidden states",
        "byte arithmetic of the paper config's shapes",
    ),
    (L, "send one every {} iterations", "q"),
    (L, "(one block, r {})", "lora.r"),
    (L, "(all {} blocks:", "GPT-2 medium's depth"),
    (L, "from ln {} = {} nats", "the loss of a uniform guess over the 258 token ids"),
    ("docs/algorithms.md", "then k+{})", "an index"),
    ("docs/algorithms.md", "with {}, {} or {} hosts", "the layouts the test runs"),
    (
        "docs/algorithms.md",
        "(with {} clients, {} per round, l = {}, {} clients would never be aligned in {} rounds)",
        "an example of the schedule, by arithmetic",
    ),
    ("docs/bytes.md", "below {}e-5", "fp16's smallest normal magnitude"),
    (D, "from [{}, {}]", "the generator's contrast range"),
    (D, "at contrast {},", "the contrast the distance is quoted at"),
    (D, "({}-pixel padding)", "the augmentation's setting"),
    (D, "up to {} times", "the partitioner's retry bound"),
    (D, "Dir(`data.alpha`·{})", "the Dirichlet's form"),
    (D, "({} channels), server = an MLP ({}, {}, classes)", "simple_conv's shape"),
    (D, "the cut is {} features", "simple_conv's shape"),
    (D, "per sample at {} px", "the input size"),
    (D, "more accurate, {}× the smashed bytes", "arithmetic: 16×16 against 4×4"),
    (D, "stride {})", "ResNet's shape"),
    (
        D,
        "(client {} B, server {} B, aux {} B at a layer2 cut)",
        "model sizes (tests/test_models.py pins them to the byte)",
    ),
    ("docs/development.md", "after {} rounds", "a test's setting"),
    ("docs/development.md", "{} or {} hosts", "a test's layouts"),
    (
        "docs/development.md",
        "a host of {} clients that have all taken part stays within {}× the "
        "peak RSS of a {}-client run",
        "the bound tests/test_spill.py asserts",
    ),
    ("docs/development.md", "for {}, {}, {} and {} GPUs", "the cases a test covers"),
    ("docs/development.md", "for cuts {} and {}", "the cases a test covers"),
    ("docs/development.md", "run {} rounds", "a test's setting"),
    ("docs/development.md", "an oracle {} and a silent model {}", "the metric's bounds"),
    (
        "docs/running.md",
        "{} iid clients on {} client hosts + {} server, {} rounds",
        "config defaults",
    ),
    ("docs/running.md", "on the full {} images, so all {} rounds", "config defaults"),
    ("docs/running.md", "with {} + {} ranks", "a launch layout"),
    (
        "docs/running.md",
        "its status ({} done, {} failed, with the failing rank's error; {} bad",
        "the CLI's exit statuses",
    ),
    ("docs/running.md", "since with {} a requeued job", "checkpoint.every=0"),
    ("docs/running.md", "at most {} timeouts", "submitit's requeue limit"),
    ("docs/running.md", "shell {} s before the limit", "the sbatch signal setting"),
    ("docs/running.md", "(port {}–{} derived", "the port range"),
    (W, "after {} s;", "the launcher's kill delay"),
    (W, "`runtime.timeout_s` + {} s", "the launcher's bound"),
    (W, "end the job within {} s with", "the fail-fast tests' bound, far below their timeout"),
    (W, "at most {} bytes", "the file system's limit"),
    (W, "(mode {},", "a file mode"),
    (W, "port {} by default", "torchrun's default port"),
    (W, "word are {} bytes", "sizes fixed by the wire format (wire/header.py)"),
]


# Command-line flags of the benchmarks and the JSON field each one is recorded in.
FLAGS = {
    "--rounds": "rounds",
    "--train-limit": "train_limit",
    "--seeds": "seeds",
    "--targets": "targets",
    "--set": "extra_overrides",
    "--align-interval": "align_interval",
    "--align-epochs": "align_epochs",
    "--per-round": "per_round",
    "--fraction": "fraction",
    "--model": "model",
}
