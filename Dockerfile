# syntax=docker/dockerfile:1
# One image, one target per service: the stages share every layer but the last few lines.
#   docker build --target scheduler -t chargeyard/scheduler .
# The packages come from this work tree (libs/ and services/ are not published to PyPI), and
# are installed together so pip resolves chargeyard-contracts and chargeyard-platform locally.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/chargeyard
COPY libs/contracts/ libs/contracts/
COPY libs/platform/ libs/platform/
COPY simulator/ simulator/
COPY services/ services/
RUN /opt/chargeyard/bin/pip install --no-cache-dir \
        ./libs/contracts ./libs/platform ./simulator \
        ./services/ocpp-gateway ./services/reservation-api ./services/scheduler \
        ./services/energy-manager ./services/notifier ./services/billing ./services/reporting \
        ./services/backoffice

FROM ${PYTHON_IMAGE} AS runtime
# A fixed numeric uid, so Kubernetes' runAsNonRoot can check it without a name lookup.
RUN groupadd --system --gid 10001 chargeyard \
    && useradd --system --uid 10001 --gid chargeyard --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin chargeyard
COPY --from=build /opt/chargeyard /opt/chargeyard
ENV PATH=/opt/chargeyard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /tmp
USER 10001:10001

# Each service listens on every interface inside its container (the settings default to
# 127.0.0.1 for `make run`). The health check asks /healthz: the process serves HTTP; /readyz
# (database, consumer group) is for the orchestrator's readiness probe, not for restarts.

FROM runtime AS reservation-api
ENV RESERVATIONS_HTTP_HOST=0.0.0.0
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["python", "-m", "chargeyard_reservations"]

FROM runtime AS ocpp-gateway
ENV GATEWAY_HTTP_HOST=0.0.0.0 \
    GATEWAY_OCPP_HOST=0.0.0.0
EXPOSE 8001 9000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/healthz', timeout=2)"]
CMD ["python", "-m", "chargeyard_gateway"]

FROM runtime AS scheduler
ENV SCHEDULER_HTTP_HOST=0.0.0.0
EXPOSE 8002
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8002/healthz', timeout=2)"]
CMD ["python", "-m", "chargeyard_scheduler"]

FROM runtime AS energy-manager
ENV ENERGY_HTTP_HOST=0.0.0.0
EXPOSE 8003
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8003/healthz', timeout=2)"]
CMD ["python", "-m", "chargeyard_energy"]

FROM runtime AS notifier
ENV NOTIFIER_HTTP_HOST=0.0.0.0
EXPOSE 8004
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8004/healthz', timeout=2)"]
CMD ["python", "-m", "chargeyard_notifier"]

FROM runtime AS billing
ENV BILLING_HTTP_HOST=0.0.0.0
EXPOSE 8005
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8005/healthz', timeout=2)"]
CMD ["python", "-m", "chargeyard_billing"]

FROM runtime AS reporting
ENV REPORTING_HTTP_HOST=0.0.0.0
EXPOSE 8006
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8006/healthz', timeout=2)"]
CMD ["python", "-m", "chargeyard_reporting"]

# The back office and driver app: web pages over the other services' REST APIs (and its own
# maintenance log in PostgreSQL); the ingress sends it everything outside /v1 and /ocpp.
FROM runtime AS backoffice
ENV BACKOFFICE_HTTP_HOST=0.0.0.0
EXPOSE 8007
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8007/healthz', timeout=2)"]
CMD ["python", "-m", "chargeyard_backoffice"]

# Simulated OCPP stations (compose profile "simulator"); no HTTP port, so no health check.
FROM runtime AS simulator
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "chargeyard_simulator"]
CMD ["--url", "ws://ocpp-gateway:9000/ocpp", "--stations", "6", "--cars", "4"]
