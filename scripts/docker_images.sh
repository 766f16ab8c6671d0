#!/usr/bin/env bash
# A Docker engine and waorch's images for the container tests, without an image registry
# (../shared/FACTS.md: none is reachable here). Installs Debian's docker.io and debootstrap when
# missing, starts dockerd when none answers (and makes it a single-node swarm), builds the base image
# waorch-base:bookworm with debootstrap (once: about 45 s), then the worker image waorch-worker:test and the
# orchestrator image waorch-orchestrator:test from a wheelhouse of this tree (offline: no package index
# inside the build).
# Prints what it did; on failure says why and exits 1 (the container tests then skip, naming this).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "waorch docker: $*" >&2; }
mkdir -p build/docker
BASE=waorch-base:bookworm
WORKER=${WAORCH_TEST_WORKER_IMAGE:-waorch-worker:test}
ORCHESTRATOR=${WAORCH_TEST_ORCHESTRATOR_IMAGE:-waorch-orchestrator:test}

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing Debian packages: ${need[*]}"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log: build/docker/dockerd.log)"
  setsid nohup dockerd >build/docker/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.3; done
  docker info >/dev/null 2>&1 || { say "dockerd did not start: see build/docker/dockerd.log"; exit 1; }
fi

# the swarm runner's tests: a single-node swarm, advertised on loopback only
if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = inactive ]; then
  say "making the engine a single-node swarm (docker swarm init --advertise-addr 127.0.0.1)"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  say "building $BASE with debootstrap (about 45 s)"
  root=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,libmagic1 \
    bookworm "$root" http://deb.debian.org/debian >build/docker/debootstrap.log 2>&1 \
    || { say "debootstrap failed: see build/docker/debootstrap.log"; rm -rf "$root"; exit 1; }
  tar -C "$root" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$root"
fi

say "building $WORKER and $ORCHESTRATOR from a wheelhouse of this tree"
rm -rf build/wheelhouse
# The wheels for the image's Python (Debian bookworm's 3.11.2), not this venv's: pip picks the
# versions whose Requires-Python admits it (soupsieve) and adds async-timeout (redis needs it < 3.11.3).
.venv/bin/pip wheel -q --disable-pip-version-check --no-deps --wheel-dir build/wheelhouse . 2>&1 | grep -v '^WARNING: Location' || true
platforms=(); for tag in 2_36 2_28 2_27 2_17 2014 2_12 2010 2_5 1; do platforms+=(--platform "manylinux${tag}_x86_64"); done
.venv/bin/pip download -q --disable-pip-version-check --dest build/wheelhouse --only-binary=:all: \
  --python-version 3.11.2 --implementation cp --abi cp311 --abi abi3 --abi none "${platforms[@]}" \
  build/wheelhouse/waorch-*.whl "async-timeout==5.0.1" 2>&1 | grep -v '^WARNING: Location' || true
: >build/docker/build.log
build() {  # build TARGET TAG: one target of docker/Dockerfile on the base image, from the wheelhouse
  DOCKER_BUILDKIT=0 docker build -q -f docker/Dockerfile --target "$1" --build-arg BASE_IMAGE="$BASE" \
    -t "$2" build/wheelhouse >>build/docker/build.log 2>&1 || { say "the $1 build failed: see build/docker/build.log"; exit 1; }
  say "ready: $(docker image inspect -f '{{.Size}}' "$2" | awk '{printf "%s %.0f MB", "'"$2"'", $1/1e6}')"
}
build worker "$WORKER"
build orchestrator "$ORCHESTRATOR"
