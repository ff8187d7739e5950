"""/metrics under several gunicorn workers (prometheus_client multiprocess mode), and the GIL
demo with the spawn start method (macOS's default)."""

from __future__ import annotations

import json

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


OK = ("lab2_requests_total", (("endpoint", "/predict"), ("status", "200")))
BAD = ("lab2_requests_total", (("endpoint", "/predict"), ("status", "422")))
COUNT = ("lab2_request_seconds_count", (("endpoint", "/predict"),))
DEPTH = ("lab2_queue_depth", ())


@pytest.mark.points(0)
def test_metrics_add_up_across_workers_and_show_queue_depth(two_sync, record):
    """Two sync workers on a Redis no Celery worker reads: submitted jobs wait in the queue.
    The server is shared, so the check counts what its own requests added."""
    base = two_sync.base
    before = samples(base)
    pids = set()
    with httpx.Client(base_url=base, timeout=30, headers={"Connection": "close"}) as client:
        for _ in range(20):
            pids.add(client.post("/predict", json=record).headers["X-Worker-Pid"])
        for _ in range(3):
            assert client.post("/predict", json={**record, "age": 7}).status_code == 422
        for _ in range(4):
            assert client.post("/jobs/explain", json=record).status_code == 202
    got = samples(base)

    def added(key: tuple[str, tuple]) -> float:
        return got.get(key, 0.0) - before.get(key, 0.0)

    assert added(OK) == 20 and added(BAD) == 3, got  # whichever worker answers the scrape
    assert added(COUNT) == 23
    assert added(DEPTH) == 4
    assert len(pids) >= 1


@pytest.mark.points(0)
def test_gil_demo_runs_with_spawn(gil_demo_spawn):
    """Started in the background at session start (conftest), checked here."""
    proc, report, log = gil_demo_spawn
    assert proc.wait(300) == 0, log.read_text()[-2000:]
    data = json.loads(report.read_text())
    assert data["start_method"] == "spawn"
    assert [r["work"] for r in data["rows"]] == ["explain", "xgboost", "sleep"]
    assert report.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
