# syntax=docker/dockerfile:1
#
# sevsync image: `docker build -t sevsync .`, then `docker run sevsync worker|migrate|sandbox|tenant ...`.
# Stage 1 builds the sevsync wheel and installs it with its runtime dependencies (no dev extras) into a
# virtualenv; stage 2 copies only that virtualenv onto a fresh slim base and runs it as a non-root user.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/sevsync

WORKDIR /src
# Only what the wheel is built from (see also .dockerignore).
COPY pyproject.toml README.md ./
COPY events ./events
COPY schema ./schema
COPY worker ./worker

RUN pip wheel --no-deps --wheel-dir /dist . \
 && /opt/sevsync/bin/pip install /dist/sevsync-*.whl \
 && /opt/sevsync/bin/sevsync --help > /dev/null


FROM ${PYTHON_IMAGE}

ENV PATH=/opt/sevsync/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SEVSYNC_HTTP_PORT=8080

RUN groupadd --system --gid 10001 sevsync \
 && useradd --system --uid 10001 --gid sevsync --create-home --home-dir /home/sevsync \
        --shell /usr/sbin/nologin sevsync

COPY --from=build /opt/sevsync /opt/sevsync

# Numeric, so that runtimes enforcing "run as non-root" can check it without reading /etc/passwd.
USER 10001:10001
WORKDIR /home/sevsync

EXPOSE 8080

# slim has no curl; urllib raises (exit 1) on a refused connection, a timeout or an HTTP error status.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SEVSYNC_HTTP_PORT', '8080'), timeout=4)"]

ENTRYPOINT ["sevsync"]
CMD ["worker"]
