"""/metrics under several gunicorn workers (prometheus_client multiprocess mode), and the GIL
demo with the spawn start method (macOS's default)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def samples(base: str) -> dict[tuple[str, tuple], float]:
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200
    out = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.points(0)
def test_metrics_add_up_across_workers_and_show_queue_depth(stack, record):
    stack.start_redis()  # and no Celery worker: submitted jobs wait in the queue
    _, base = stack.start_gunicorn(LAB2_WORKERS="2", LAB2_WORKER_CLASS="sync")
    pids = set()
    with httpx.Client(base_url=base, timeout=30, headers={"Connection": "close"}) as client:
        for _ in range(20):
            pids.add(client.post("/predict", json=record).headers["X-Worker-Pid"])
        for _ in range(3):
            assert client.post("/predict", json={**record, "age": 7}).status_code == 422
        for _ in range(4):
            assert client.post("/jobs/explain", json=record).status_code == 202
    got = samples(base)
    ok = ("lab2_requests_total", (("endpoint", "/predict"), ("status", "200")))
    bad = ("lab2_requests_total", (("endpoint", "/predict"), ("status", "422")))
    assert got[ok] == 20 and got[bad] == 3, got  # whichever worker answers the scrape
    count = ("lab2_request_seconds_count", (("endpoint", "/predict"),))
    assert got[count] == 23
    assert got[("lab2_queue_depth", ())] == 4
    assert len(pids) >= 1


@pytest.mark.points(0)
def test_gil_demo_runs_with_spawn(tmp_path, trained_artifacts):
    report = tmp_path / "gil.json"
    cmd = [
        sys.executable, "-m", "lab2_flask_celery.gil_demo", "--jobs", "2",
        "--start-method", "spawn", "--permutations", "2", "--rows", "2000",
        "--report", str(report),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(report.read_text())
    assert data["start_method"] == "spawn"
    assert [r["work"] for r in data["rows"]] == ["explain", "xgboost", "sleep"]
