#!/usr/bin/env bash
# One command from a fresh clone to a passing test suite (slow multi-process tests included).
# Extra arguments go to pytest: bash launch/test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
exec .venv/bin/python -m pytest "$@"
