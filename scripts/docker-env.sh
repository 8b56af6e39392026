# shellcheck shell=sh
# Which base images the container tests and `make docker-*` targets build on.
# Source it: `. scripts/docker-env.sh`.
#
# On a machine with no container registry, scripts/docker-setup.sh builds local stand-ins
# for the official images under these tags (Debian bookworm, Python 3.11 / Node.js 18).
# On a machine that can pull from Docker Hub, use the Dockerfile's defaults
# (python:3.12-slim, node:20-slim) by setting both to the empty string before sourcing:
#   CONDUCTOR_PYTHON_IMAGE= CONDUCTOR_NODE_IMAGE= make docker-test

export CONDUCTOR_PYTHON_IMAGE="${CONDUCTOR_PYTHON_IMAGE-conductor-local/python:3.11-bookworm}"
export CONDUCTOR_NODE_IMAGE="${CONDUCTOR_NODE_IMAGE-conductor-local/node:bookworm}"

# Compose v2 builds through `buildx bake` by default; there is no buildx here.
export COMPOSE_BAKE=false
