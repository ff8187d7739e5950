"""Real gunicorn on a free port: workers dying, timeouts, and the locustfile."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import threading
import time

import httpx
import pytest

from course_models.procs import venv_bin, wait_until
from lab2_flask_celery.services import LAB_DIR

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.points(0)
def test_killed_worker_is_replaced_and_service_keeps_answering(two_sync, record):
    base = two_sync.base
    boots = two_sync.log.read_text().count("Booting worker")
    outcomes: list[tuple[float, int | str]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                try:
                    status: int | str = client.post(f"{base}/predict", json=record).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                outcomes.append((time.monotonic(), status))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(outcomes) > 20, 30, what="some traffic")
        pids: set[int] = set()

        def both_seen() -> bool:
            pids.add(httpx.get(f"{base}/health").json()["pid"])
            return len(pids) == 2

        wait_until(both_seen, 30, 0.05, "both workers to answer")
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()

        def replaced() -> bool:
            return httpx.get(f"{base}/health").json()["pid"] not in pids

        wait_until(replaced, 60, 0.05, "a replacement worker to answer")
        answered = len(outcomes)
        wait_until(lambda: len(outcomes) >= answered + 10, 30, 0.05, "ten more answers")
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    after = [s for t, s in outcomes if t > killed_at]
    assert after, "no traffic after the kill"
    assert sum(s == 200 for s in after) >= len(after) - 3, after  # at most the in-flight ones
    assert after[-10:] == [200] * 10
    log = two_sync.log.read_text()
    assert f"Worker (pid:{victim}) was sent SIGKILL" in log
    assert log.count("Booting worker") == boots + 1


@pytest.mark.points(0)
def test_short_timeout_variant_answers_a_clean_error(short_guarded, record):
    """gunicorn timeout (2 s) shorter than /explain: the app's deadline answers 504 JSON."""
    base = short_guarded.base
    response = httpx.post(f"{base}/explain", json=record, timeout=30)
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "deadline_exceeded"
    assert httpx.post(f"{base}/predict", json=record, timeout=10).status_code == 200
    assert "WORKER TIMEOUT" not in short_guarded.log.read_text()


@pytest.mark.points(0)
def test_locustfile_runs_headless_with_csv(main, tmp_path):
    """The load script works against the real server (as `make load-2` runs it)."""
    base = main.base
    prefix = tmp_path / "load"
    cmd = [
        venv_bin("locust"), "-f", str(LAB_DIR / "locustfile.py"), "--headless",
        "-u", "3", "-r", "3", "-t", "5s", "--host", base, "--csv", str(prefix),
        "--only-summary", "LightUser", "HeavyUser",
    ]  # fmt: skip
    env = {**os.environ, "LAB2_LOAD_LIGHT": "2", "LAB2_LOAD_HEAVY": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(f"{prefix}_stats.csv") as fh:
        rows = {r["Name"]: r for r in csv.DictReader(fh)}
    assert int(rows["/predict"]["Request Count"]) > 5
    assert int(rows["/explain"]["Request Count"]) >= 1
    assert int(rows["Aggregated"]["Failure Count"]) == 0
