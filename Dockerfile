# vecclf service image: `vecclf serve` (gunicorn with vecclf.service.serve's settings) on port 8000.
# The same image runs the nightly job (docs/retrain.md):
# `docker run -v STORE:/models -v CONFIG_DIR:/config IMAGE vecclf retrain --config /config/retrain.toml`
# Mount the model store at /models (VECCLF_STORE); the image ships none.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VECCLF_STORE=/models \
    VECCLF_HOST=0.0.0.0 \
    VECCLF_PORT=8000 \
    VECCLF_WORKERS=2 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/vecclf-metrics \
    VECCLF_RUNTIME_DIR=/tmp/vecclf-run

WORKDIR /app
COPY pyproject.toml README.md ./
COPY vecclf ./vecclf
COPY training ./training
COPY service ./service
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin vecclf \
    && mkdir -p /models /tmp/vecclf-metrics /tmp/vecclf-run \
    && chown vecclf /models /tmp/vecclf-metrics /tmp/vecclf-run

USER 10001
VOLUME ["/models"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["vecclf", "serve"]
