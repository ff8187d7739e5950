"""Celery + Redis with real processes: results, lost workers, a restarted Redis.

The API side runs in-process (Flask test client) against the real Redis; the worker is a
real ``celery worker`` subprocess, so kills and restarts are the real thing.
"""

from __future__ import annotations

import pytest

from course_models.procs import wait_until
from lab2_flask_celery.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def poll(client, job_id: str, until: set[str], timeout: float = 60.0) -> dict:
    seen: dict = {}

    def done() -> bool:
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.json
        seen.update(response.json)
        return response.json["status"] in until

    wait_until(done, timeout, 0.05, f"job {job_id} to reach {until}")
    return seen


def submit(client, record) -> str:
    response = client.post("/jobs/explain", json=record)
    assert response.status_code == 202, response.json
    assert response.headers["Location"] == f"/jobs/{response.json['job_id']}"
    return response.json["job_id"]


def same_answer(result: dict, sync: dict) -> None:
    for key in ("prediction", "base_value", "contributions", "evaluations", "model"):
        assert result[key] == sync[key], key


@pytest.mark.points(0)
def test_submit_poll_result_equals_sync_answer(main, record):
    """The shared redis + worker, the API in this process."""
    client = create_app(main.stack.settings()).test_client()
    job_id = submit(client, record)
    final = poll(client, job_id, {"success", "failure"})
    assert final["status"] == "success", final
    same_answer(final["result"], client.post("/explain", json=record).json)
    # Unknown ids are a clear 404, not Celery's eternal PENDING.
    missing = client.get("/jobs/6f1c3f0e-5d4e-4a43-9d61-0d1f0c1a2b3c")
    assert missing.status_code == 404 and missing.json["error"] == "unknown_job"


@pytest.mark.points(0)
def test_redis_restart_with_persistence_loses_no_job(stack, record):
    """Jobs queued, Redis restarted (append-only file on), then a worker: every job done."""
    stack.start_redis(persist=True)
    client = create_app(stack.settings()).test_client()
    jobs = [submit(client, {**record, "age": 30 + i}) for i in range(4)]
    stack.stop_redis()  # SIGTERM: Redis flushes its append-only file and exits
    # While Redis is down the API answers 503 quickly: the client knows nothing was queued.
    down = client.post("/jobs/explain", json=record)
    assert down.status_code == 503 and down.json["error"] == "queue_unavailable"
    assert client.get(f"/jobs/{jobs[0]}").status_code == 503
    stack.start_redis(persist=True)
    assert {client.get(f"/jobs/{j}").json["status"] for j in jobs} == {"pending"}
    stack.start_worker()
    for i, job_id in enumerate(jobs):
        final = poll(client, job_id, {"success", "failure"}, timeout=90)
        assert final["status"] == "success", final
        same_answer(final["result"], client.post("/explain", json={**record, "age": 30 + i}).json)


@pytest.mark.points(0)
def test_redis_restart_without_persistence_reports_lost_jobs(stack, record):
    """Without persistence the queue is gone: the client gets a clear 404, not 'pending'."""
    stack.start_redis(persist=False)
    client = create_app(stack.settings()).test_client()
    job_id = submit(client, record)
    assert client.get(f"/jobs/{job_id}").json["status"] == "pending"
    stack.stop_redis()
    stack.start_redis(persist=False)
    lost = client.get(f"/jobs/{job_id}")
    assert lost.status_code == 404 and lost.json["error"] == "unknown_job"
    assert "Redis restart" in lost.json["message"]
