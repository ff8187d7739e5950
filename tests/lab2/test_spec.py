"""Graded specifications of lab 2, through its public surface only: HTTP (``LAB2_URL`` or a
service started from this checkout), gunicorn's log, the Celery worker's processes and log.
A correct implementation with different internals scores the same."""

from __future__ import annotations

import threading

import httpx
import pytest

from course_models.artifacts import load_artifact
from course_models.contract import hostile_bodies, label_for
from course_models.procs import wait_until
from course_models.tabular import predict_proba, records_to_frame
from lab2_flask_celery.chaos import Jobs, body_limits, customer, same_answer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
UNKNOWN = "6f1c3f0e-5d4e-4a43-9d61-0d1f0c1a2b3c"


@pytest.fixture(scope="module")
def http(lab2_url):
    with httpx.Client(base_url=lab2_url, timeout=30) as client:
        yield client


def reference_p(records: list[dict], version: int = 2) -> list[float]:
    model = load_artifact("churn", version).model
    return list(predict_proba(model, records_to_frame(records, version), version))


def error_json(response: httpx.Response) -> dict:
    assert response.headers.get("content-type", "").startswith("application/json"), response.text
    body = response.json()
    assert isinstance(body.get("error"), str) and body.get("message"), body
    return body


# --- Task 2.1: the app factory and JSON error handling -----------------------------------


@pytest.mark.task("2.1")
@pytest.mark.points(3)
def test_hostile_bodies_get_the_shared_statuses_as_json(http):
    """The same bad body gets the same 4xx as in labs 1 and 5, naming the field; never 5xx."""
    for case in hostile_bodies(2):
        response = http.post(
            "/predict", content=case.body, headers={"Content-Type": case.content_type}
        )
        assert response.status_code == case.expected_status, (case.name, response.text[:300])
        body = error_json(response)
        if case.expected_status == 422 and case.field != "body":
            assert case.field in {d["field"] for d in body["details"]}, (case.name, body)


@pytest.mark.task("2.1")
@pytest.mark.points(1)
def test_routing_errors_are_json(http):
    assert error_json(http.get("/no/such/route"))["error"]
    response = http.get("/predict")
    assert response.status_code == 405 and error_json(response)


@pytest.mark.task("2.1")
@pytest.mark.points(2)
def test_oversized_bodies_are_413_json_whatever_the_framing(lab2_url):
    """Content-Length or chunked, 3 MB or 50 MB: 413 JSON, never a cut body parsed."""
    rows = body_limits(lab2_url, 1_000_000)
    for row in rows:
        expected = 200 if row["case"].startswith("valid") else 413
        assert row["status"] == expected and row["json"], row


# --- Task 2.2: POST /predict ----------------------------------------------------------------


@pytest.mark.task("2.2")
@pytest.mark.points(2)
def test_predict_one_record_matches_the_model(http, record):
    response = http.post("/predict", json=record)
    assert response.status_code == 200, response.text
    pred = response.json()["prediction"]
    assert pred["churn_probability"] == pytest.approx(reference_p([record])[0], abs=1e-9)
    assert pred["label"] == label_for(pred["churn_probability"])
    assert response.json()["model"] == {"name": "churn", "version": 2}


@pytest.mark.task("2.2")
@pytest.mark.points(2)
def test_predict_batch_keeps_order(http):
    records = [customer(i) for i in range(0, 70, 7)]
    response = http.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(records)
    got = [p["churn_probability"] for p in body["predictions"]]
    assert got == pytest.approx(reference_p(records), abs=1e-9)


@pytest.mark.task("2.2")
@pytest.mark.points(1)
def test_predict_batch_bounds_name_records(http, record):
    for bad in ({"records": []}, {"records": [record] * 257}, {"records": [record], "x": 1}):
        response = http.post("/predict", json=bad)
        assert response.status_code == 422, response.text
        fields = [d["field"] for d in error_json(response)["details"]]
        assert any(f.startswith("records") or f == "x" for f in fields), fields
    broken = {k: v for k, v in record.items() if k != "age"}
    response = http.post("/predict", json={"records": [record, broken]})
    assert [d["field"] for d in error_json(response)["details"]] == ["records[1].age"]


# --- Task 2.3: gunicorn.conf.py -------------------------------------------------------------


def concurrent_pids(base: str, record: dict, n: int) -> set[str]:
    """n slow requests at once; with sync workers each is served by a different process."""
    pids: list[str] = []

    def one() -> None:
        response = httpx.post(f"{base}/explain", json=record, timeout=60)
        pids.append(response.headers.get("X-Worker-Pid", ""))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return set(pids)


@pytest.mark.task("2.3")
@pytest.mark.points(2)
def test_workers_setting_gives_that_many_sync_processes(sync3, record):
    """LAB2_WORKERS=3 LAB2_WORKER_CLASS=sync: three processes answer three requests at once."""
    assert len(concurrent_pids(sync3.base, record, 3)) == 3
    log = sync3.log.read_text()  # all three have answered, so all three have booted
    assert "Using worker: sync" in log
    assert log.count("Booting worker") == 3, log


@pytest.mark.task("2.3")
@pytest.mark.points(1)
def test_worker_class_setting_selects_gthread(gthread_v1):
    """LAB2_WORKERS=1 LAB2_WORKER_CLASS=gthread LAB2_THREADS=4."""
    log = gthread_v1.log.read_text()
    assert "Using worker: gthread" in log and log.count("Booting worker") == 1, log


@pytest.mark.task("2.3")
@pytest.mark.points(2)
def test_timeout_setting_kills_a_silent_sync_worker(short_timeout, record):
    """short_timeout (2 s) without the app's deadline: gunicorn aborts the worker mid-request
    (the client gets gunicorn's HTML 500 or a dropped connection) and boots a new one."""
    base = short_timeout.base
    try:
        response = httpx.post(f"{base}/explain", json=record, timeout=60)
    except httpx.RemoteProtocolError:
        pass  # the worker died before gunicorn could write anything
    else:
        assert response.status_code == 500, response.status_code
    log_path = short_timeout.log
    wait_until(lambda: "WORKER TIMEOUT" in log_path.read_text(), 30, what="WORKER TIMEOUT")
    wait_until(lambda: httpx.get(f"{base}/health").status_code == 200, 30, what="a new worker")


# --- Task 2.4: the Celery task --------------------------------------------------------------


@pytest.mark.task("2.4")
@pytest.mark.points(3)
def test_worker_sigkill_mid_job_is_redelivered(sigkill_outcome, sigkill):
    """acks_late: kill -9 the whole worker mid-job; the unacked job comes back after the
    visibility timeout and a fresh worker completes it correctly."""
    out = sigkill_outcome
    assert out["status_before_kill"] == "started", out
    assert out["final_status"] == "success", out
    sync = httpx.post(f"{sigkill.base}/explain", json=out["record"], timeout=60).json()
    assert same_answer(out["result"], sync), out
    assert out["ran_by_worker2"], out


@pytest.mark.task("2.4")
@pytest.mark.points(2)
def test_transient_failure_is_retried_then_reported(missing_model, record):
    """A missing model file is retried with backoff, then the job fails with the reason.
    (The worker has an empty model folder and LAB2_TASK_MAX_RETRIES=1.)"""
    jobs = Jobs(missing_model.base)
    job_id = jobs.submit(record)
    jobs.wait_all(60)
    assert jobs.last[job_id]["status"] == "failure", jobs.last[job_id]
    assert "ArtifactNotFound" in jobs.last[job_id]["error"]
    assert "Retry in" in missing_model.worker_log.read_text()
    jobs.close()


@pytest.mark.task("2.4")
@pytest.mark.points(1)
def test_soft_time_limit_fails_the_job_cleanly(soft_limit, record):
    """LAB2_TASK_SOFT_TIME_LIMIT=0.5 and a job that needs far longer."""
    jobs = Jobs(soft_limit.base)
    job_id = jobs.submit(record)
    jobs.wait_all(60)
    assert jobs.last[job_id]["status"] == "failure"
    assert "soft time limit" in jobs.last[job_id]["error"]
    jobs.close()


# --- Task 2.5: the job API -------------------------------------------------------------------


@pytest.mark.task("2.5")
@pytest.mark.points(3)
def test_submit_then_poll_gives_the_sync_answer(http, lab2_url, record):
    response = http.post("/jobs/explain", json=record)
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["Location"] == f"/jobs/{body['job_id']}" == body["location"]
    jobs = Jobs(lab2_url)
    jobs.seen[body["job_id"]] = []
    jobs.wait_all(60)
    final = jobs.last[body["job_id"]]
    assert final["status"] == "success", final
    assert same_answer(final["result"], http.post("/explain", json=record).json())
    assert set(jobs.seen[body["job_id"]]) <= {"pending", "started", "success"}
    jobs.close()


@pytest.mark.task("2.5")
@pytest.mark.points(1)
def test_unknown_jobs_are_404_json(http):
    for job_id in (UNKNOWN, "not-a-uuid"):
        response = http.get(f"/jobs/{job_id}")
        assert response.status_code == 404 and error_json(response)["error"] == "unknown_job"


@pytest.mark.task("2.5")
@pytest.mark.points(1)
def test_invalid_job_is_rejected_at_submit(http, record):
    response = http.post("/jobs/explain", json={**record, "age": 7})
    assert response.status_code == 422, response.text
    assert [d["field"] for d in error_json(response)["details"]] == ["age"]
    response = http.post(
        "/jobs/explain", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and error_json(response)
