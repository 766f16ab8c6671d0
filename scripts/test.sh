#!/usr/bin/env bash
# Run the test suite against real parts (embedded Valkey, microsocks proxies, worker processes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
exec .venv/bin/pytest "$@"
