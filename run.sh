#!/usr/bin/env bash
# Sets CNN Studio up on first use, then starts it. Arguments go to main.py:
#   ./run.sh                          opens the app
#   ./run.sh train --dataset mnist    trains headless (see ./run.sh --help)
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh app
exec .venv/bin/python main.py "$@"
