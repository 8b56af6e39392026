# Conductor Loop: the API server with its web UI, and the run-agent CLI, in one image.
#
#   docker build -t conductor-loop .
#   docker run -d -p 14355:14355 \
#     -v "$PWD/data/runs:/data/runs" \
#     -v "$PWD/config.docker.yaml:/data/config/config.yaml:ro" \
#     -v "$PWD/secrets:/secrets:ro" conductor-loop
#
# The server runs as uid 10001: give it the host directory of the runs
# (`sudo chown -R 10001:10001 data/runs`). Agent tokens are read from files
# (`token_file: /secrets/<agent>.token` in the config); never pass them as ENV.
#
# Build arguments:
#   PYTHON_IMAGE        base of the Python stages (default python:3.12-slim; Python >= 3.11)
#   NODE_IMAGE          base of the web UI build (default node:20-slim)
#   INSTALL_AGENT_CLIS  true: also install Node.js and the claude, codex and gemini CLIs
#   WITH_RAY            1: also install the `ray` extra (Ray head and worker nodes, and a
#                       server with `executor: {type: ray}`; docker-compose.ray.yml)

ARG PYTHON_IMAGE=python:3.12-slim
ARG NODE_IMAGE=node:20-slim

# --- web UI: built when frontend/package.json exists ------------------------------------
FROM ${NODE_IMAGE} AS ui
# The repository's layout, so that a build writing to ../src/conductor_loop/web/dist
# (or to frontend/dist) finds its way; /out receives whichever it wrote.
WORKDIR /repo/frontend
# README.md is only there so that each COPY has a source while frontend/ is absent.
COPY README.md frontend/package*.json ./
RUN if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
    elif [ -f package.json ]; then npm install --no-audit --no-fund; fi
COPY README.md fronten[d] ./
RUN set -e; mkdir -p /out; \
    if [ -f package.json ]; then \
      npm run build; \
      if [ -f /repo/src/conductor_loop/web/dist/index.html ]; then \
        cp -a /repo/src/conductor_loop/web/dist/. /out/; \
      else cp -a dist/. /out/; fi; \
      test -f /out/index.html; \
    fi

# --- agent CLIs (optional) -------------------------------------------------------------
FROM ${NODE_IMAGE} AS agents
ARG INSTALL_AGENT_CLIS=false
ARG AGENT_CLI_PACKAGES="@anthropic-ai/claude-code @openai/codex @google/gemini-cli"
# The official node images carry a self-contained node binary: it is taken along.
RUN set -eu; mkdir -p /opt/agents/bin; \
    if [ "$INSTALL_AGENT_CLIS" = true ]; then \
      npm install --global --prefix /opt/agents --no-audit --no-fund $AGENT_CLI_PACKAGES; \
      npm cache clean --force; \
      if [ -x /usr/local/bin/node ]; then cp /usr/local/bin/node /opt/agents/bin/node; fi; \
    fi

# --- Python: a wheel, installed into a venv --------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG WITH_RAY=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/conductor
WORKDIR /src
COPY pyproject.toml README.md ./
# Dependencies first, in their own layer: editing the source does not reinstall them.
RUN python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > /tmp/requirements.txt \
 && /opt/conductor/bin/pip install -r /tmp/requirements.txt
# The optional Ray extra, in a layer of its own (about 330 MB: the default image stays small).
RUN if [ "$WITH_RAY" = 1 ]; then \
      python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['ray'], sep='\\n')" \
        > /tmp/ray-requirements.txt \
      && /opt/conductor/bin/pip install -r /tmp/ray-requirements.txt \
      && /opt/conductor/bin/python -c "import ray; print('ray', ray.__version__)"; \
    fi
COPY src ./src
COPY --from=ui /out/ ./src/conductor_loop/web/dist/
RUN /opt/conductor/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/conductor/bin/pip install --no-deps /wheels/*.whl \
 && /opt/conductor/bin/conductor --version \
 && /opt/conductor/bin/run-agent --version

# --- runtime ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG INSTALL_AGENT_CLIS=false
LABEL org.opencontainers.image.title="Conductor Loop" \
      org.opencontainers.image.description="Run AI coding agents in a restart loop; REST + SSE API and web UI" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --gid 10001 conductor \
 && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /home/conductor --create-home \
      --shell /usr/sbin/nologin conductor \
 && mkdir -p /data/runs /data/state /data/config /secrets \
 && chown -R 10001:10001 /data

COPY --from=agents /opt/agents /opt/agents
RUN if [ "$INSTALL_AGENT_CLIS" = true ] && [ ! -x /opt/agents/bin/node ]; then \
      apt-get update && apt-get install -y --no-install-recommends nodejs \
      && rm -rf /var/lib/apt/lists/*; \
    fi

COPY --from=build /opt/conductor /opt/conductor
COPY docker/conductor-init.py /usr/local/bin/conductor-init
COPY config.docker.yaml /data/config/config.yaml

ENV PATH=/opt/conductor/bin:/opt/agents/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONDUCTOR_CONFIG=/data/config/config.yaml \
    CONDUCTOR_ROOT=/data/runs \
    CONDUCTOR_STATE_DIR=/data/state

USER 10001:10001
WORKDIR /data
EXPOSE 14355

# python:*-slim has no curl: ask the API with the image's own Python.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('CONDUCTOR_PORT', '14355'), timeout=2)"]

# PID 1 forwards docker stop's SIGTERM to the server, reaps orphans, and gives the task
# runners a grace period to record how their runs ended (docker/conductor-init.py).
ENTRYPOINT ["conductor-init", "--"]
CMD ["conductor"]
