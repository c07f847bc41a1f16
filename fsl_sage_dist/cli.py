"""Command line: `fsl-sage run [CONFIG] [key=value ...]` (also `python -m fsl_sage_dist`).

fsl-sage run                                  # built-in default: FSL-SAGE, Fashion-MNIST
fsl-sage run configs/fmnist_fedavg.toml rounds=5 launch.client_hosts=2
torchrun --standalone --nproc_per_node=3 -m fsl_sage_dist run configs/fmnist_fsl_sage.toml
fsl-sage compare runs/fedavg-* runs/fsl_sage-* --target-acc 0.85 --plot cmp.png
fsl-sage submit configs/fmnist_fsl_sage.toml slurm.partition=cpu --wait
fsl-sage timeline runs/fedavg-* runs/fsl_sage-* --up-mbps 2 --down-mbps 10 --rtt-ms 60
"""

from __future__ import annotations

import argparse
import sys

from fsl_sage_dist import compare, run_command, submit, timeline_command


def cmd_run(args: argparse.Namespace) -> int:
    return run_command.run(args.items, args.dry_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fsl-sage", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a job (locally, or as one rank under torchrun)")
    run.add_argument("items", nargs="*", metavar="[CONFIG] [key=value ...]")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, print the resolved config, placement, model sizes and "
        "closed-form MiB per round, and exit without starting ranks",
    )
    run.set_defaults(func=cmd_run)
    compare.add_parser(sub)
    submit.add_parser(sub)
    timeline_command.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
