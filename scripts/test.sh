#!/usr/bin/env bash
# Run the static checks (scripts/check.sh: mypy --strict, ruff), then the test suite against real parts
# (embedded Valkey, microsocks proxies, worker processes). Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
scripts/check.sh
exec .venv/bin/pytest "$@"
