"""Instructor-only checks (not in the student edition)."""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from course_models.artifacts import load_artifact
from course_models.procs import wait_until
from course_models.tabular import predict_proba, records_to_frame
from lab2_flask_celery.chaos import Jobs, customer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.task("2.2")
@pytest.mark.points(1)
def test_predict_serves_model_version_1(stack):
    _, base = stack.start_gunicorn(LAB2_MODEL_VERSION="1")
    records = [customer(i) for i in range(3)]
    records = [{k: v for k, v in r.items() if k != "satisfaction_score"} for r in records]
    response = httpx.post(f"{base}/predict", json={"records": records}, timeout=30)
    assert response.status_code == 200, response.text
    model = load_artifact("churn", 1).model
    expected = predict_proba(model, records_to_frame(records, 1), 1)
    got = [p["churn_probability"] for p in response.json()["predictions"]]
    assert got == pytest.approx(list(expected), abs=1e-9)


@pytest.mark.task("2.4")
@pytest.mark.points(1)
def test_pool_child_kill_is_requeued_by_the_same_worker(stack, record):
    stack.env.update(LAB2_EXPLAIN_PERMUTATIONS="150")
    stack.start_redis()
    worker = stack.start_worker()
    _, base = stack.start_gunicorn()
    jobs = Jobs(base)
    job_id = jobs.submit(record)
    wait_until(lambda: jobs.poll(job_id)["status"] != "pending", 60, 0.02, "the job to start")
    assert jobs.last[job_id]["status"] == "started", jobs.last[job_id]
    os.kill(jobs.last[job_id]["worker_pid"], signal.SIGKILL)
    jobs.wait_all(90)
    assert jobs.last[job_id]["status"] == "success"
    assert worker.poll() is None
    jobs.close()
