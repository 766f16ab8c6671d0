#!/usr/bin/env bash
# Format the Python sources the way scripts/check.sh checks them (ruff, configured in pyproject.toml),
# apply ruff's safe lint fixes (import order), and list what is left to fix by hand (lines that no
# formatter can shorten: long strings and comments).
# Usage: scripts/format.sh   (after scripts/bootstrap.sh --test, which installs the pinned ruff)
set -euo pipefail
cd "$(dirname "$0")/.."

sources=(waorch tests benchmarks)
.venv/bin/ruff format "${sources[@]}"
.venv/bin/ruff check --fix --quiet "${sources[@]}" || {
  echo "format: the lines above are left to fix by hand" >&2
  exit 1
}
