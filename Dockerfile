# The CivicPulse image: the `civicpulse` command (ingest, alerts, analytics, api, doctor, …).
# Built by docker-compose.yml; see docs/deploy.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package build needs (.dockerignore keeps secrets, .venv and tests out).
COPY pyproject.toml README.md ./
COPY civicpulse/ civicpulse/
COPY devices/ devices/
COPY ingest/ ingest/
COPY storage/ storage/
COPY analytics/ analytics/
COPY delivery/ delivery/
COPY alerts/ alerts/
COPY api/ api/
COPY simulators/ simulators/
COPY dashboards/ dashboards/
RUN pip install . && rm -rf /src

# A fixed, unprivileged account: nothing in the container runs as root.
RUN groupadd --system --gid 10001 civicpulse \
    && useradd --system --uid 10001 --gid civicpulse --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin civicpulse
USER 10001:10001
WORKDIR /

ENTRYPOINT ["civicpulse"]
CMD ["--help"]
