# Lab 5 — batch vs real-time, two images from one file:
#   --target service  the real-time FastAPI service (A/B, version header, tenants)
#   --target airflow  `airflow standalone` with the lab's DAG, scoring into MinIO (S3)
#   docker build -f docker/lab5.Dockerfile --target service -t course-lab5 .
# Both carry the same churn models, trained here: see docker/README.md ("Models in images").
ARG BASE_IMAGE=python:3.11-slim

# Service dependencies only: Airflow (~300 packages) stays out of the real-time image.
FROM ${BASE_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p shared labs/lab1_fastapi labs/lab2_flask_celery labs/lab3_torchserve \
      labs/lab4_tf_serving labs/lab5_batch_vs_realtime \
    && pip install -c constraints.txt . fastapi "uvicorn[standard]" boto3 \
    && pip uninstall -y model-serving-course

# The same plus the whole lab 5 extra (Airflow 3.3, pinned); before any source is copied, so a
# code change does not reinstall Airflow.
FROM deps AS deps-airflow
RUN pip install -c constraints.txt ".[lab5]" && pip uninstall -y model-serving-course

FROM deps AS build
COPY shared shared
COPY labs labs
RUN pip wheel --no-deps -w /dist . && pip install --no-deps /dist/*.whl && pip check
ENV COURSE_ARTIFACTS_DIR=/opt/artifacts
RUN python -m course_models train --only churn && python -m course_models list \
    && python -m lab5_batch_vs_realtime tenants && chmod -R a+rX,go-w /opt/artifacts

FROM deps-airflow AS build-airflow
COPY --from=build /dist /dist
RUN pip install --no-deps /dist/*.whl && pip check

FROM ${BASE_IMAGE} AS service
RUN useradd --uid 10001 --create-home --home-dir /home/app app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/artifacts /opt/artifacts
COPY docker/healthcheck.py docker/s3_bucket.py /opt/
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    COURSE_ARTIFACTS_DIR=/opt/artifacts
USER app
WORKDIR /home/app
EXPOSE 8005
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "/opt/healthcheck.py", "http://127.0.0.1:8005/ready"]
CMD ["python", "-m", "lab5_batch_vs_realtime", "serve", "--host", "0.0.0.0", "--port", "8005"]

FROM ${BASE_IMAGE} AS airflow
RUN useradd --uid 10001 --create-home --home-dir /home/app app
COPY --from=build-airflow /opt/venv /opt/venv
COPY --from=build /opt/artifacts /opt/artifacts
COPY labs/lab5_batch_vs_realtime/dags /opt/lab5/dags
COPY docker/healthcheck.py /opt/healthcheck.py
# As `make lab-5` sets them (lab5_batch_vs_realtime/stack.py), with the API on all interfaces.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    COURSE_ARTIFACTS_DIR=/opt/artifacts AIRFLOW_HOME=/home/app/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/lab5/dags AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__PARALLELISM=2 AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True \
    AIRFLOW__API__HOST=0.0.0.0 AIRFLOW__API__PORT=8080 AIRFLOW__API__WORKERS=1 \
    AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:8080/execution/ \
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
USER app
WORKDIR /home/app
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=10s --start-period=300s --retries=3 \
  CMD ["python", "/opt/healthcheck.py", "http://127.0.0.1:8080/api/v2/monitor/health"]
CMD ["airflow", "standalone"]
