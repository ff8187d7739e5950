"""Container smoke tests (`make smoke-N`): build, up, wait healthy, one correct prediction, a 20 s
headless Locust run with no failures from the profile's Locust service, down.

They drive `docker/compose.sh`, so they run wherever `make up-N` runs: Docker with compose v2 or
docker-compose, or podman's Docker-API socket. The stack's logs are printed when a step fails.
"""

from __future__ import annotations

import csv
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from course_models.procs import free_port

pytestmark = [pytest.mark.containers, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
COMPOSE_SH = REPO / "docker" / "compose.sh"


@dataclass
class Stack:
    """One lab's compose project, under its own project name and free host ports."""

    lab: int
    env: dict[str, str]
    log: Path

    def run(self, *args: str, timeout: float = 1800, check: bool = True):
        with open(self.log, "a") as out:
            out.write(f"\n$ compose.sh {' '.join(args)}\n")
            out.flush()
            proc = subprocess.run(
                ["bash", str(COMPOSE_SH), args[0], str(self.lab), *args[1:]],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if check and proc.returncode != 0:
            pytest.fail(
                f"compose.sh {' '.join(args)} {self.lab} exited {proc.returncode}:\n{self.tail()}"
            )
        return proc.returncode

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def url(self, port_var: str) -> str:
        return f"http://127.0.0.1:{self.env[port_var]}"


# --- per-lab checks: one request whose answer must be right, not just 200 --------------------


def _churn_pair(version: int) -> tuple[dict, dict]:
    """A customer every churn model calls high-risk and one it calls loyal (P ≈ 0.99 vs 0.01)."""
    from course_models.tabular import example_record

    risky = dict(
        example_record(version),
        tenure_months=1,
        contract="month-to-month",
        support_calls=12,
        monthly_charges=140.0,
        payment_method="electronic-check",
    )
    loyal = dict(
        example_record(version),
        tenure_months=70,
        contract="two-year",
        support_calls=0,
        monthly_charges=20.0,
        payment_method="credit-card",
    )
    if version >= 2:
        risky["satisfaction_score"], loyal["satisfaction_score"] = 1.0, 5.0
    return risky, loyal


def check_lab1(stack: Stack) -> None:
    base = stack.url("LAB1_HOST_PORT")
    risky, loyal = _churn_pair(2)
    response = httpx.post(
        f"{base}/v2/churn/predict", json={"instances": [risky, loyal]}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 2, body
    p_risky, p_loyal = (p["churn_probability"] for p in body["predictions"])
    assert p_risky > 0.9 and p_loyal < 0.1, body
    bad = httpx.post(f"{base}/v2/churn/predict", json=dict(risky, age=250), timeout=30)
    assert bad.status_code == 422, bad.text


def check_lab2(stack: Stack) -> None:
    base = stack.url("LAB2_HOST_PORT")
    risky, loyal = _churn_pair(2)
    response = httpx.post(f"{base}/predict", json={"records": [risky, loyal]}, timeout=30)
    assert response.status_code == 200, response.text
    p_risky, p_loyal = (p["churn_probability"] for p in response.json()["predictions"])
    assert p_risky > 0.9 and p_loyal < 0.1, response.json()
    # The Celery path: Flask queues in Redis, the worker container answers.
    job = httpx.post(f"{base}/jobs/explain", json=risky, timeout=30)
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = httpx.get(base + job.headers["Location"], timeout=30).json()
        if status["status"] in ("success", "failure"):
            break
        time.sleep(1)
    assert status["status"] == "success", status


def _held_out_digits(count: int = 10) -> list[tuple[list[float], str]]:
    from course_models.datasets import load_digits_split

    _, x_test, _, y_test = load_digits_split()
    return [
        ([round(float(v), 4) for v in x.ravel()], str(y))
        for x, y in zip(x_test[:count], y_test[:count], strict=True)
    ]


def check_lab3(stack: Stack) -> None:
    base = stack.url("LAB3_HOST_PORT")
    digits = _held_out_digits()
    right = 0
    for pixels, label in digits:
        response = httpx.post(f"{base}/predictions/digits_cnn", json=pixels, timeout=30)
        assert response.status_code == 200, response.text
        right += response.json()["label"] == label
    assert right >= len(digits) - 2, f"{right}/{len(digits)} held-out digits right"
    text = httpx.post(
        f"{base}/predictions/support_intent",
        json={"text": "I was charged twice for my subscription"},
        timeout=60,
    )
    assert text.status_code == 200 and text.json()["label"] == "billing", text.text
    metrics = httpx.get(stack.url("LAB3_METRICS_HOST_PORT") + "/metrics", timeout=30)
    assert metrics.status_code == 200 and "ts_inference_requests_total" in metrics.text


def check_lab4(stack: Stack) -> None:
    base = stack.url("LAB4_HOST_PORT")
    digits = _held_out_digits()
    images = [[pixels[row * 8 : row * 8 + 8] for row in range(8)] for pixels, _ in digits]
    for path in ("/v1/models/digits:predict", "/v1/models/digits/labels/canary:predict"):
        response = httpx.post(base + path, json={"instances": images}, timeout=60)
        assert response.status_code == 200, response.text
        probs = response.json()["predictions"]
        right = sum(
            str(max(range(10), key=row.__getitem__)) == label
            for row, (_, label) in zip(probs, digits, strict=True)
        )
        assert right >= len(digits) - 2, f"{path}: {right}/{len(digits)} held-out digits right"
    metrics = httpx.get(f"{base}/monitoring/prometheus/metrics", timeout=30)
    assert metrics.status_code == 200 and ":tensorflow:serving:request_count" in metrics.text


def check_lab5(stack: Stack) -> None:
    import boto3

    base = stack.url("LAB5_HOST_PORT")
    for version in ("1", "2"):
        risky, loyal = _churn_pair(int(version))
        probs = []
        for record in (risky, loyal):
            response = httpx.post(
                f"{base}/predict",
                json={"entity_id": "smoke", "features": record},
                headers={"X-Model-Version": version},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert response.json()["model_version"] == int(version), response.json()
            probs.append(response.json()["churn_probability"])
        assert probs[0] > 0.9 and probs[1] < 0.1, (version, probs)
    health = httpx.get(stack.url("LAB5_AIRFLOW_HOST_PORT") + "/api/v2/monitor/health", timeout=30)
    assert health.status_code == 200, health.text
    # The batch path: the DAG, run inside the Airflow container, writes Parquet to the bucket.
    # The DAG arrives paused (is_paused_upon_creation=True), so the scheduler never starts a run
    # of its own: `dags test` runs the only run of this day, deterministically.
    day = "2026-11-24"
    stack.run("exec", "lab5-airflow", "airflow", "dags", "test", "lab5_churn_batch", day)
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.url("LAB5_S3_HOST_PORT"),
        region_name="us-east-1",
        aws_access_key_id="minioadmin",
        aws_secret_access_key="minioadmin",
    )
    import json

    prefix = f"predictions/date={day}/"
    manifest = json.loads(s3.get_object(Bucket="lab5", Key=prefix + "_SUCCESS")["Body"].read())
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="lab5", Prefix=prefix).get("Contents", [])}
    assert manifest["files"] and all(prefix + name in keys for name in manifest["files"]), keys


@dataclass(frozen=True)
class Lab:
    number: int
    host_ports: tuple[str, ...]  # every *_HOST_PORT variable the profile publishes
    check: Callable[[Stack], None]


LABS = {
    1: Lab(1, ("LAB1_HOST_PORT",), check_lab1),
    2: Lab(2, ("LAB2_HOST_PORT",), check_lab2),
    3: Lab(
        3, ("LAB3_HOST_PORT", "LAB3_MANAGEMENT_HOST_PORT", "LAB3_METRICS_HOST_PORT"), check_lab3
    ),
    4: Lab(4, ("LAB4_HOST_PORT", "LAB4_GRPC_HOST_PORT"), check_lab4),
    5: Lab(
        5,
        (
            "LAB5_HOST_PORT",
            "LAB5_S3_HOST_PORT",
            "LAB5_MINIO_CONSOLE_HOST_PORT",
            "LAB5_AIRFLOW_HOST_PORT",
        ),
        check_lab5,
    ),
}


@pytest.fixture
def stack(request, tmp_path) -> Iterator[Stack]:
    lab = LABS.get(request.param)
    assert lab is not None, (
        f"lab {request.param} has no container smoke check yet: add it to LABS in {__file__}"
    )
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"smoke{lab.number}x{os.getpid()}",
        "LOCUST_PORT": str(free_port()),
        "LOCUST_REPORTS": str(tmp_path / "load"),
        "LOCUST_RUN_TIME": "20s",
    }
    env.update({var: str(free_port()) for var in lab.host_ports})
    (tmp_path / "load").mkdir()
    st = Stack(lab.number, env, tmp_path / "compose.log")
    engine = subprocess.run(
        ["bash", str(COMPOSE_SH), "engine"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert engine.returncode == 0, f"no usable container engine:\n{engine.stderr}"
    print(engine.stdout.strip())
    try:
        yield st
    finally:
        st.run("down", timeout=300, check=False)


def _locust_totals(stats_csv: Path) -> dict[str, str]:
    with open(stats_csv, newline="") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    assert "Aggregated" in rows, f"no Aggregated row in {stats_csv}"
    return rows["Aggregated"]


@pytest.mark.parametrize(
    "stack", [pytest.param(n, id=f"lab{n}") for n in (1, 2, 3, 4, 5)], indirect=True
)
def test_stack_serves_and_survives_load(stack: Stack, tmp_path):
    lab = LABS[stack.lab]
    try:
        t0 = time.perf_counter()
        stack.run("build")
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        stack.env["NO_BUILD"] = "1"
        stack.run("up")
        print(f"lab{stack.lab}: build {built:.0f}s, up+healthy {time.perf_counter() - t0:.0f}s")

        lab.check(stack)

        rc = stack.run("locust", timeout=300, check=False)
        stats = tmp_path / "load" / f"lab{stack.lab}_stats.csv"
        assert stats.exists(), f"Locust wrote no {stats.name} (exit {rc}):\n{stack.tail()}"
        totals = _locust_totals(stats)
        print(
            f"lab{stack.lab} locust: {totals['Request Count']} requests, "
            f"{totals['Failure Count']} failures, {totals['Requests/s']} req/s"
        )
        assert int(totals["Request Count"]) > 0, totals
        assert int(totals["Failure Count"]) == 0, (totals, stack.tail())
        assert rc == 0, f"Locust exited {rc}:\n{stack.tail()}"
    except BaseException:
        stack.run("logs", timeout=120, check=False)
        print(stack.tail(400))
        raise
