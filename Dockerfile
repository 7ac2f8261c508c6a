# syntax=docker/dockerfile:1
# The operator image: `docker build -t wallaroo-inference-operator:0.1.0 .` (see docs/deploy.md).
#
# Build stages install the locked dependencies into a virtualenv, and the project (the production
# wheel, built from pyproject.toml and setup.py) into a directory of its own; the final stage copies only those
# two onto a clean python:3.11-slim, so no build tooling, pip cache or source tree ends up in the
# image. Each is its own layer: after a source change only the project's small layer is rebuilt and
# copied (the dependencies' layers come from the cache), so rebuilding takes seconds, not minutes.
# All dependencies ship wheels for linux/amd64 and arm64: no compiler is needed.

# Pinned by digest: the same bytes on every build, changed only by a reviewed edit. The digest is the
# multi-platform index of python:3.11.13-slim-bookworm on Docker Hub, as pinned in several public
# Dockerfiles; it could not be checked against the registry from the machine that wrote it (no registry
# access): verify with `docker buildx imagetools inspect python:3.11.13-slim-bookworm` when updating.
# `make image` without Docker builds on a local Debian base instead (--build-arg PYTHON_IMAGE=...).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

FROM ${PYTHON_IMAGE} AS dependencies
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Rebuilt only when the lock changes: exactly the pinned versions, each checked against its hash
# (`make lock` writes requirements/runtime.txt from pyproject.toml).
COPY requirements/runtime.txt ./requirements/
RUN pip install --require-hashes --no-deps -r requirements/runtime.txt

FROM dependencies AS build
# The build backend, locked too, in a venv of its own so it stays out of the image.
COPY requirements/build.txt ./requirements/
RUN python -m venv /opt/buildenv \
 && /opt/buildenv/bin/pip install --require-hashes --no-deps -r requirements/build.txt
# The production wheel holds the operator alone (setup.py): no simulator, no localcluster. --target
# keeps the project's own files (packages and the wallaroo-operator script, run by
# /opt/venv/bin/python) apart from the venv, so a source change rebuilds only this small layer.
COPY pyproject.toml setup.py README.md ./
COPY operator/src ./operator/src
RUN WALLAROO_BUILD_OPERATOR_ONLY=1 /opt/buildenv/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && pip install --no-deps --target /opt/project /wheels/*.whl \
 && PYTHONPATH=/opt/project /opt/project/bin/wallaroo-operator --help > /dev/null \
 && ! PYTHONPATH=/opt/project python -c 'import wallaroo_simulator' 2>/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="wallaroo-inference-operator" \
      org.opencontainers.image.description="Kopf operator running Wallaroo pipeline inference as InferenceJob resources" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
# A real passwd entry for the numeric user: kopf derives its identity from the user name when
# POD_ID is not set (the Deployment sets it; `docker run` does not). Named `wallaroo`: Debian's
# base-passwd already has a group `operator` (gid 37), so `groupadd operator` fails there.
RUN groupadd --system --gid 10001 wallaroo \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin wallaroo
COPY --from=dependencies /opt/venv /opt/venv
COPY --from=build /opt/project /opt/project
# Bytecode was compiled at install time; nothing is written at run time, so the root filesystem
# can be read-only (the Deployment mounts an emptyDir on /tmp, the only path the operator writes).
ENV PATH=/opt/project/bin:/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/project \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so that Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# kopf's liveness endpoint (--liveness=http://0.0.0.0:8080/healthz, the entrypoint's default).
EXPOSE 8080
ENTRYPOINT ["wallaroo-operator", "run"]
