#!/usr/bin/env bash
# One command from a fresh clone to a running job: set up, then run the built-in default
# (FSL-SAGE, Fashion-MNIST, simple_conv, 10 clients on 2 client hosts + 1 server).
# Extra arguments are passed on: bash launch/quickstart.sh rounds=5
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
exec .venv/bin/fsl-sage run "$@"
