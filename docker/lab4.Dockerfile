# Lab 4 — TensorFlow Serving. The server itself is the official tensorflow/serving image (see
# compose.yaml); this file builds what it serves, and the course's local compatible server:
#   --target models  the exported SavedModels; its container copies them into the `lab4-models`
#                    volume that tensorflow/serving mounts read-only at /models, then exits 0
#   --target server  `python -m lab4_tf_serving serve`, the TF-Serving-compatible stand-in, with
#                    the same flags and ports (8500 gRPC, 8501 REST), for machines without the image
#   docker build -f docker/lab4.Dockerfile --target models -t course-lab4-models .
# The Keras models are trained and exported here with TensorFlow 2.21, the version the pinned
# tensorflow/serving tag was released with: see docker/README.md ("Models in images").
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
    LAB4_TF_LOG_LEVEL=2
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p shared labs/lab1_fastapi labs/lab2_flask_celery labs/lab3_torchserve \
      labs/lab4_tf_serving labs/lab5_batch_vs_realtime \
    && pip install -c constraints.txt ".[lab4]" && pip uninstall -y model-serving-course
COPY shared shared
COPY labs labs
RUN pip install --no-deps . && pip check
RUN python -m course_models --artifacts /opt/artifacts train --only digits_keras \
    && python -m course_models --artifacts /opt/artifacts list \
    && COURSE_ARTIFACTS_DIR=/opt/artifacts python -m lab4_tf_serving export --out /export/models \
    && chmod -R a+rX,go-w /opt/artifacts /export

# The model volume's filler: plain files, no Python packages.
FROM ${BASE_IMAGE} AS models
RUN useradd --uid 10001 --create-home --home-dir /home/app app \
    && mkdir /models && chown app:app /models
COPY --from=build /export/models /export/models
USER app
# Replace the volume's content: a rebuilt image (retrained models) never serves stale versions.
CMD ["sh", "-c", "rm -rf /models/* && cp -a /export/models/. /models/ && ls -R /models | head -20"]

# The local TF-Serving-compatible server (stand-in). Flags after the image name are passed on,
# exactly as with tensorflow/serving.
FROM ${BASE_IMAGE} AS server
RUN useradd --uid 10001 --create-home --home-dir /home/app app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /export/models /models
COPY docker/healthcheck.py /opt/healthcheck.py
COPY labs/lab4_tf_serving/models.config labs/lab4_tf_serving/monitoring.config /config/
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 LAB4_TF_LOG_LEVEL=2
USER app
WORKDIR /home/app
EXPOSE 8500 8501
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "/opt/healthcheck.py", "http://127.0.0.1:8501/v1/models/digits"]
ENTRYPOINT ["python", "-m", "lab4_tf_serving", "serve", "--host=0.0.0.0", "--port=8500", \
            "--rest_api_port=8501"]
CMD ["--model_config_file=/config/models.config", "--monitoring_config_file=/config/monitoring.config"]
