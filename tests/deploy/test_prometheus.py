"""A real Prometheus (Debian's package) scraping the labs' real servers with the repo's scrape
configuration (deploy/prometheus/scrape.py, rendered with this test's ports) and rules.

Each lab is started through its public entry point; the test waits on Prometheus' targets API
until every job is `up`, drives traffic, then waits until a query on the lab's own series
shows that traffic. Nothing sleeps blindly: every wait polls an answer. The alert rules
themselves are unit-tested with `promtool test rules`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from course_models import procs
from course_models.tabular import example_record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "deploy" / "prometheus"


def test_alert_rules_pass_promtool_unit_tests():
    assert shutil.which("promtool"), "promtool missing: `make setup` installs Debian's prometheus"
    check = subprocess.run(
        ["promtool", "check", "rules", str(PROM_DIR / "rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run(
        ["promtool", "test", "rules", str(PROM_DIR / "rules_test.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_compose_scrape_config_is_generated():
    result = subprocess.run(
        [sys.executable, str(PROM_DIR / "scrape.py"), "--compose", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@dataclass
class Running:
    url: str
    proc: subprocess.Popen
    log: Path


def start_lab(name: str, cmd: list[str], env: dict[str, str], ready: str, tmp: Path) -> Running:
    log = tmp / f"{name}.log"
    return Running(ready, procs.start(cmd, env=env, log=log), log)


def wait_ready(lab: Running, timeout: float = 120) -> None:
    procs.wait_until(
        lambda: httpx.get(lab.url, timeout=2).status_code == 200,
        timeout,
        what=lab.url,
        proc=lab.proc,
        log=lab.log,
    )


@pytest.fixture(scope="module")
def labs(tmp_path_factory, trained_artifacts) -> Iterator[dict[str, str]]:
    """Labs 1 and 5 on free ports, started with `python -m ...` like `make lab-N`."""
    tmp = tmp_path_factory.mktemp("labs")
    p1, p5 = procs.free_port(), procs.free_port()
    started = {
        "lab1-fastapi": start_lab(
            "lab1",
            [sys.executable, "-m", "lab1_fastapi", "--port", str(p1)],
            {"LAB1_ACCESS_LOG": "false"},
            f"http://127.0.0.1:{p1}/ready",
            tmp,
        ),
        "lab5-realtime": start_lab(
            "lab5",
            [sys.executable, "-m", "lab5_batch_vs_realtime", "serve", "--port", str(p5)],
            {"LAB5_TENANTS_DIR": str(tmp / "tenants")},
            f"http://127.0.0.1:{p5}/ready",
            tmp,
        ),
    }
    try:
        for lab in started.values():
            wait_ready(lab)
        yield {job: lab.url.removesuffix("/ready") for job, lab in started.items()}
    finally:
        for lab in started.values():
            procs.stop(lab.proc)


@pytest.fixture(scope="module")
def prometheus(labs, tmp_path_factory) -> Iterator[str]:
    assert shutil.which("prometheus"), "prometheus missing: `make setup` installs Debian's package"
    tmp = tmp_path_factory.mktemp("prometheus")
    config = tmp / "prometheus.yml"
    targets = [f"--target={job}={url.removeprefix('http://')}" for job, url in labs.items()]
    subprocess.run(
        [sys.executable, str(PROM_DIR / "scrape.py"), "--out", str(config), *targets],
        check=True,
        timeout=60,
    )
    port = procs.free_port()
    log = tmp / "prometheus.log"
    proc = procs.start(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        procs.wait_until(
            lambda: all_up(url, set(labs)), 90, what="every target up", proc=proc, log=log
        )
        yield url
    finally:
        procs.stop(proc)


def all_up(url: str, jobs: set[str]) -> bool:
    response = httpx.get(f"{url}/api/v1/targets", timeout=5)
    if response.status_code != 200:  # 503 text body while the TSDB is still opening
        return False
    targets = response.json()["data"]["activeTargets"]
    healthy = {t["labels"]["job"] for t in targets if t["health"] == "up"}
    return jobs <= healthy


def query(url: str, promql: str) -> list[dict]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def scalar(url: str, promql: str) -> float:
    result = query(url, promql)
    return float(result[0]["value"][1]) if result else 0.0


def test_prometheus_loaded_the_rules(prometheus):
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    names = {g["name"] for g in groups}
    assert {"lab1-fastapi", "lab2-flask-celery", "lab5-realtime"} <= names
    alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert {"Lab1LatencyP95High", "Lab2QueueBacklog", "Lab5ErrorRatioHigh"} <= alerts


def test_lab1_series_after_traffic(prometheus, labs):
    base = labs["lab1-fastapi"]
    record = example_record(2)
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(20):
            assert client.post("/v2/churn/predict", json=record).status_code == 200
        assert client.post("/v2/churn/predict", json=dict(record, age=250)).status_code == 422
    procs.wait_until(
        lambda: (
            scalar(prometheus, 'sum(lab1_http_requests_total{route="/v2/churn/predict"})') >= 21
        ),
        60,
        what="lab 1's 21 requests in Prometheus",
    )
    statuses = query(
        prometheus, 'sum by (status) (lab1_http_requests_total{route="/v2/churn/predict"})'
    )
    by_status = {r["metric"]["status"]: float(r["value"][1]) for r in statuses}
    assert by_status["200"] >= 20 and by_status["422"] >= 1, by_status
    # The series the latency rule reads exists, so the recording rule can have a value.
    buckets = query(prometheus, "lab1_http_request_duration_seconds_bucket")
    assert buckets, "no lab 1 latency histogram scraped"


def test_lab5_series_after_traffic(prometheus, labs):
    base = labs["lab5-realtime"]
    body = {"entity_id": "customer-1", "features": example_record(2)}
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(10):
            assert client.post("/predict", json=body).status_code == 200
    procs.wait_until(
        lambda: scalar(prometheus, "sum(lab5_predictions_total)") >= 10,
        60,
        what="lab 5's 10 predictions in Prometheus",
    )
    assert query(prometheus, "lab5_prediction_seconds_bucket")
    # The series the error-ratio rule divides.
    procs.wait_until(
        lambda: scalar(prometheus, 'sum(lab5_requests_total{route="/predict",status="200"})') >= 10,
        60,
        what="lab 5's request counter in Prometheus",
    )
