#!/usr/bin/env bash
# Run the static checks (scripts/check.sh: mypy --strict, ruff), then the test suite against real parts
# (embedded Valkey, microsocks proxies, worker processes, and worker containers on a Docker engine this
# starts: scripts/docker_images.sh). Arguments go to pytest, after `-n 3`: three test processes (most tests wait
# on real time, so three share two cores well); `-n 0` runs the suite in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test
scripts/check.sh
scripts/docker_images.sh || echo "waorch: no Docker engine or worker image: the container tests (-m docker) will skip" >&2
exec .venv/bin/pytest -n 3 "$@"
