#!/usr/bin/env bash
# Sets up the test tools on first use, then runs the whole test suite. Arguments go to pytest.
# Tests that need the real datasets run when CNN_STUDIO_DATA points at them, and skip otherwise.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev
exec .venv/bin/python -m pytest "$@"
