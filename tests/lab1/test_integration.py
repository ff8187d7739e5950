"""Real processes: `python -m lab1_fastapi` (what `make lab-1` runs) with 2 uvicorn workers on
a free port, predictions over HTTP, and the Locust traffic mix run headless against it."""

from __future__ import annotations

import csv
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from course_models import procs
from course_models.tabular import example_record

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.points(0)]
LAB_DIR = Path(__file__).resolve().parents[2] / "labs" / "lab1_fastapi"


def _children(pid: int) -> set[int]:
    return {child.pid for child in psutil.Process(pid).children(recursive=True)}


@pytest.fixture(scope="module")
def uvicorn_2_workers(trained_artifacts, tmp_path_factory):
    port = procs.free_port()
    log = tmp_path_factory.mktemp("lab1") / "uvicorn.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LAB1_")},
        "LAB1_PORT": str(port),
        "LAB1_WORKERS": "2",
        "LAB1_ARTIFACTS_DIR": str(trained_artifacts),
        "LAB1_ACCESS_LOG": "false",
    }
    proc = procs.start([sys.executable, "-m", "lab1_fastapi"], env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        procs.wait_http(f"{url}/health", timeout=120, proc=proc)  # /ready is task 1.1
        yield url, proc, log
    except Exception:
        print(procs.tail(log))
        raise
    finally:
        procs.stop(proc)


def test_two_workers_serve_predictions_over_http(uvicorn_2_workers):
    url, proc, log = uvicorn_2_workers
    assert f"docs: {url}/docs" in log.read_text()  # what `make lab-1` prints
    workers = {int(p) for p in re.findall(r"Started server process \[(\d+)\]", log.read_text())}
    assert len(workers) == 2 and workers <= _children(proc.pid), procs.tail(log)
    record = example_record(2)

    def call(i: int) -> httpx.Response:
        # A fresh connection per call, so the kernel spreads them over both workers.
        return httpx.post(f"{url}/v2/churn/predict", json={"instances": [record] * (i % 3 + 1)})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(call, range(40)))
    assert [r.status_code for r in responses] == [200] * 40
    assert [len(r.json()["predictions"]) for r in responses] == [i % 3 + 1 for i in range(40)]
    probs = {r.json()["predictions"][0]["churn_probability"] for r in responses}
    assert len(probs) == 1  # every worker loaded the same model
    bad = httpx.post(f"{url}/v1/churn/predict", json=dict(record, age=500))
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] in {
        "age",
        "satisfaction_score",
    }


def test_locust_mixed_traffic_has_no_failures(uvicorn_2_workers, tmp_path):
    url, _, _ = uvicorn_2_workers
    prefix = tmp_path / "locust"
    proc = procs.start(
        [
            procs.venv_bin("locust"),
            "-f",
            str(LAB_DIR / "locustfile.py"),
            "--headless",
            "-u",
            "8",
            "-r",
            "8",
            "-t",
            "6s",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
        ],
        log=tmp_path / "locust.log",
    )
    try:
        proc.wait(timeout=90)
    finally:
        procs.stop(proc)
    with open(f"{prefix}_stats.csv") as fh:
        rows = {r["Name"]: r for r in csv.DictReader(fh)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 0, procs.tail(tmp_path / "locust.log")
    assert int(total["Failure Count"]) == 0, procs.tail(tmp_path / "locust.log")
    assert {"/v2 single", "/v1 single", "/v2 batch", "/v1 invalid"} <= set(rows)
