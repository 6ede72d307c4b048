# syntax=docker/dockerfile:1
# The connector as a container: configuration comes from CONNECTOR_* environment variables only.

# The base image is pinned to a patch release; bump it (and rebuild) for Python's security fixes.
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first, exactly as locked (versions and hashes): a change to the source alone
# reuses this layer. Regenerate the lock after changing pyproject.toml (see the README).
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY mappings ./mappings
COPY jobs ./jobs
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 connector \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin connector
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY config ./config
RUN mkdir -p /app/var && chown 10001:10001 /app/var
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CONNECTOR_LOG_FORMAT=json \
    CONNECTOR_ADMIN_BIND=0.0.0.0:9100
USER 10001:10001
EXPOSE 8080 9100
# The probe imports the standard library only (not the program): cheap every 30 s.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "jobs.service.healthcheck"]
ENTRYPOINT ["connector"]
CMD ["run"]
