# Locust load generator shared by every lab's compose profile. The lab's locustfile.py is mounted
# from labs/ (edit it without rebuilding); reports go to the mounted /reports folder.
#   headless: LOCUST_HEADLESS=1 LOCUST_RUN_TIME=20s  (CSV + HTML in artifacts/load/)
#   web UI:   http://127.0.0.1:${LOCUST_PORT:-8089}
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p shared labs/lab1_fastapi labs/lab2_flask_celery labs/lab3_torchserve \
      labs/lab4_tf_serving labs/lab5_batch_vs_realtime \
    && pip install -c constraints.txt ".[load]" && pip uninstall -y model-serving-course
# Locustfiles may build payloads with course_models (feature schema, digits samples).
COPY shared shared
COPY labs labs
RUN pip install --no-deps . && pip check

FROM ${BASE_IMAGE}
RUN useradd --uid 10001 --create-home --home-dir /home/app app
COPY --from=build /opt/venv /opt/venv
# HOME=/tmp: compose runs this as the calling user's uid so reports land owned by them.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp
USER app
WORKDIR /tmp
EXPOSE 8089
# Locust has no health endpoint of its own; in web mode the UI answering is the signal.
HEALTHCHECK NONE
ENTRYPOINT ["locust"]
