# Lab 2 — Flask under gunicorn, plus the Celery worker: one image, two commands (compose sets
# the worker's). Build from the repository root:
#   docker build -f docker/lab2.Dockerfile -t course-lab2 .
# Why the models are trained here and not mounted: see docker/README.md ("Models in images").
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p shared labs/lab1_fastapi labs/lab2_flask_celery labs/lab3_torchserve \
      labs/lab4_tf_serving labs/lab5_batch_vs_realtime \
    && pip install -c constraints.txt ".[lab2]" && pip uninstall -y model-serving-course
COPY shared shared
COPY labs labs
RUN pip install --no-deps . && pip check
RUN python -m course_models --artifacts /opt/artifacts train --only churn \
    && python -m course_models --artifacts /opt/artifacts list && chmod -R a+rX,go-w /opt/artifacts

FROM ${BASE_IMAGE}
RUN useradd --uid 10001 --create-home --home-dir /home/app app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/artifacts /opt/artifacts
COPY docker/healthcheck.py /opt/healthcheck.py
COPY labs/lab2_flask_celery/gunicorn.conf.py /opt/lab2/gunicorn.conf.py
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    COURSE_ARTIFACTS_DIR=/opt/artifacts LAB2_HOST=0.0.0.0 LAB2_PORT=8002 \
    LAB2_REDIS_URL=redis://redis:6379/0
USER app
WORKDIR /home/app
EXPOSE 8002
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "/opt/healthcheck.py", "http://127.0.0.1:8002/ready"]
CMD ["python", "-m", "gunicorn", "-c", "/opt/lab2/gunicorn.conf.py", "lab2_flask_celery.wsgi:app"]
