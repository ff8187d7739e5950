"""Instructor-only checks (not in the student edition)."""

from __future__ import annotations

import httpx
import pytest

from course_models.artifacts import load_artifact
from course_models.tabular import predict_proba, records_to_frame
from lab2_flask_celery.chaos import customer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.task("2.2")
@pytest.mark.points(1)
def test_predict_serves_model_version_1(gthread_v1):
    records = [customer(i) for i in range(3)]
    records = [{k: v for k, v in r.items() if k != "satisfaction_score"} for r in records]
    response = httpx.post(f"{gthread_v1.base}/predict", json={"records": records}, timeout=30)
    assert response.status_code == 200, response.text
    model = load_artifact("churn", 1).model
    expected = predict_proba(model, records_to_frame(records, 1), 1)
    got = [p["churn_probability"] for p in response.json()["predictions"]]
    assert got == pytest.approx(list(expected), abs=1e-9)


@pytest.mark.task("2.4")
@pytest.mark.points(1)
def test_pool_child_kill_is_requeued_by_the_same_worker(pool_kill_outcome):
    """Only the pool process dies: the same worker requeues the job and completes it."""
    out = pool_kill_outcome
    assert out["all_success"] and out["worker_survived"], out
