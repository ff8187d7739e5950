# Stand-in for minio/minio where no registry is reachable: moto's S3 server (pinned in
# constraints.txt) on MinIO's API port 9000. Same S3 API for boto3; no console, no persistence.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY constraints.txt /tmp/constraints.txt
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -c /tmp/constraints.txt "moto[server]" \
    && useradd --uid 10001 --create-home --home-dir /home/app app
COPY docker/healthcheck.py /opt/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH
USER app
EXPOSE 9000
HEALTHCHECK --interval=5s --timeout=5s CMD ["python", "/opt/healthcheck.py", "http://127.0.0.1:9000/moto-api/"]
CMD ["moto_server", "-H", "0.0.0.0", "-p", "9000"]
