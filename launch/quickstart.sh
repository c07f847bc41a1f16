#!/usr/bin/env bash
# One command from a fresh clone to the headline: set up, then run FSL-SAGE, CSE-FSL and FedAvg
# on a reduced Fashion-MNIST (launch/headline.py) and print the comparison table, the plot's path
# and the measured byte ratios. Extra key=value arguments are passed to every run:
#   bash launch/quickstart.sh rounds=4
# The paper-scale job is one command too: .venv/bin/fsl-sage run (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
exec .venv/bin/python launch/headline.py "$@"
