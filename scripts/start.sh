#!/usr/bin/env bash
# Start waorch on the embedded defaults (private Redis, data in ~/.local/share/waorch).
# Extra arguments go to the `waorch` command, e.g. `scripts/start.sh serve --port 3005`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/waorch "$@"
