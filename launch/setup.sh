#!/usr/bin/env bash
# Set up a fresh machine for fsl-sage-dist: a virtualenv in .venv with the package installed.
# Safe to rerun; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Fashion-MNIST ships as a Debian package; install it where we can (root + apt).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# Pinned pair: these torch/torchvision builds import cleanly together.
.venv/bin/python -c "import torch, torchvision" 2>/dev/null \
    || .venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e '.[test,plot,llm]'
