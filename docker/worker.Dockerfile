# The worker image: one session's `waorch worker` (neonize engine unless WORKER_ENGINE says otherwise).
#
# neonize ships a glibc (manylinux) Go library and imports libmagic, so the base is Debian, not Alpine.
# The build context is either a wheelhouse or a clean source tree (never the working copy: its .venv
# would be sent to the daemon):
#
#   offline, from a wheelhouse built on the host (no package index needed in the build):
#     .venv/bin/pip wheel --wheel-dir build/wheelhouse .
#     docker build -f docker/worker.Dockerfile -t waorch-worker build/wheelhouse
#   from the committed source (pip needs the package index):
#     git archive HEAD | docker build -f docker/worker.Dockerfile -t waorch-worker -
#
# The runner passes SESSION_ID, WEBHOOK_URL, WEBHOOK_KEY, COMMAND_KEY, AUTH_DIR, PROXY_URL, ...;
# AUTH_DIR must be writable by the image's user (uid 10001).

ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

COPY . /src
RUN if [ -f /src/pyproject.toml ]; then \
        pip install /src; \
    else \
        pip install --no-index --find-links /src waorch; \
    fi \
    && rm -rf /src

RUN useradd --system --uid 10001 --create-home --home-dir /home/waorch --shell /usr/sbin/nologin waorch
USER waorch
WORKDIR /home/waorch

ENTRYPOINT ["python", "-m", "waorch", "worker"]
