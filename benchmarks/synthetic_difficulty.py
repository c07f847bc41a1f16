"""How hard the synthetic data set is: its signal against its noise, and what two rounds learn.

    python benchmarks/synthetic_difficulty.py            # writes docs/synthetic_difficulty.json

On the default synthetic shapes (2,000 train / 500 test images of 1×28×28, 10 classes) it
measures, on the test split:
- the distance between two class patterns at contrast 1, in units of the noise's σ;
- the ideal classifier's accuracy: it knows every class pattern and picks the one that best
  explains the image at its best contrast (the ceiling no model can pass on average);
- nearest class mean, with the means estimated from the training split;
- every algorithm's test accuracy after each of 2 rounds of the default synthetic job
  (`data.name=synthetic rounds=2`, everything else at its default), run in-process.
The JSON carries a `provenance` record (benchmarks/provenance.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from provenance import record

from fsl_sage_dist.algorithms import REGISTRY
from fsl_sage_dist.config import load_config
from fsl_sage_dist.data import load_dataset
from fsl_sage_dist.data.synthetic import class_means
from fsl_sage_dist.runtime.in_process import run_in_process

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = tuple(REGISTRY)


def ideal_accuracy(images: torch.Tensor, labels: torch.Tensor, means: torch.Tensor) -> float:
    """Gaussian likelihood maximised over each class and a contrast >= 0: best ||proj||^2."""
    proj = images.flatten(1) @ means.flatten(1).T
    score = proj.clamp(min=0).pow(2) / means.flatten(1).pow(2).sum(1)
    return (score.argmax(1) == labels).float().mean().item()


def nearest_mean_accuracy(train, test) -> float:
    flat = train.images.flatten(1)
    means = torch.stack([flat[train.labels == c].mean(0) for c in range(train.num_classes)])
    predicted = torch.cdist(test.images.flatten(1), means).argmin(1)
    return (predicted == test.labels).float().mean().item()


def two_rounds(algorithm: str) -> list[float]:
    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(
            None,
            [
                "data.name=synthetic",
                "rounds=2",
                f"algorithm={algorithm}",
                "runtime.threads_per_rank=1",
                f"output.dir={out}",
            ],
        )
        return [round(r["test_acc"], 4) for r in run_in_process(cfg)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "synthetic_difficulty.json")
    args = parser.parse_args()
    provenance = record(threads_per_rank=1)  # two_rounds sets runtime.threads_per_rank=1
    seed = load_config(None, []).seed  # the default job's seed, which draws the class patterns
    train = load_dataset("synthetic", "train", seed=seed)
    test = load_dataset("synthetic", "test", seed=seed)
    means = torch.from_numpy(class_means(train.input_shape, train.num_classes, seed))
    result = {
        "provenance": provenance,
        "setting": "data.name=synthetic defaults: 2000/500 images of 1x28x28, 10 classes",
        "pattern_distance_noise_sigmas": round(
            torch.cdist(means.flatten(1)[:1], means.flatten(1)[1:]).mean().item(), 1
        ),
        "ideal_classifier_test_acc": round(ideal_accuracy(test.images, test.labels, means), 4),
        "nearest_mean_test_acc": round(nearest_mean_accuracy(train, test), 4),
        "test_acc_after_rounds_1_2": {},
    }
    for algorithm in ALGORITHMS:
        result["test_acc_after_rounds_1_2"][algorithm] = two_rounds(algorithm)
        print(algorithm, result["test_acc_after_rounds_1_2"][algorithm], flush=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
