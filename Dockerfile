# syntax=docker/dockerfile:1
# vecclf image: `vecclf serve` (gunicorn with vecclf.service.serve's settings) on port 8000.
# The same image runs the nightly job and batch scoring:
#   docker run -v STORE:/models -v CONFIG_DIR:/config IMAGE vecclf retrain --config /config/retrain.toml
#   docker run -v STORE:/models:ro -v DATA:/data IMAGE vecclf score --model M --input /data/in.csv --output /data/out
# Models: mount a store at /models (read-only for the service), or bake one in with
# deploy/baked.Dockerfile (docs/operations.md). Dependencies come from requirements.lock only.

# ---- build: every wheel, checked against the lock's hashes, and vecclf's own wheel
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
COPY requirements.lock ./
# Binary wheels only: nothing is compiled, so neither stage needs a compiler.
RUN pip download --no-cache-dir --only-binary=:all: --no-deps --require-hashes \
        --dest /wheels --requirement requirements.lock
COPY pyproject.toml README.md ./
COPY vecclf ./vecclf
COPY training ./training
COPY service ./service
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels/project .

# ---- service: the runtime, installed from the lock with no index at all
FROM python:3.11-slim-bookworm AS service

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VECCLF_STORE=/models \
    VECCLF_HOST=0.0.0.0 \
    VECCLF_PORT=8000 \
    VECCLF_WORKERS=2 \
    VECCLF_GRACEFUL_TIMEOUT=25 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/vecclf-metrics \
    VECCLF_RUNTIME_DIR=/tmp/vecclf-run

COPY --from=build /src/requirements.lock /tmp/requirements.lock
# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels --require-hashes \
        --requirement /tmp/requirements.lock \
    && pip install --no-cache-dir --no-index --no-deps /wheels/project/vecclf-*.whl \
    && rm /tmp/requirements.lock \
    && useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin vecclf \
    && mkdir -p /models /tmp/vecclf-metrics /tmp/vecclf-run \
    && chown vecclf:vecclf /models /tmp/vecclf-metrics /tmp/vecclf-run

WORKDIR /tmp
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('VECCLF_PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=2).status != 200)"]
CMD ["vecclf", "serve"]
