"""Replicas without containers: three lab 1 uvicorn processes behind a real nginx (Debian's),
on free ports. Requests through the balancer must spread over every replica, as each
replica's own /metrics counts them, and the counts must add up to what was sent."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from course_models import procs
from course_models.tabular import example_record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
REPLICAS = 3
REQUESTS = 60
ROUTE = "/v2/churn/predict"


def predictions_served(base: str) -> int:
    """This replica's count of 200 answers on ROUTE, from its own /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    pattern = (
        r'^lab1_http_requests_total\{(?=[^}]*route="' + re.escape(ROUTE) + r'")'
        r'(?=[^}]*status="200")[^}]*\}\s+([0-9.e+]+)$'
    )
    return int(sum(float(v) for v in re.findall(pattern, text, flags=re.MULTILINE)))


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, trained_artifacts):
    tmp = tmp_path_factory.mktemp("replicas")
    ports = [procs.free_port() for _ in range(REPLICAS)]
    started = []
    try:
        for i, port in enumerate(ports):
            log = tmp / f"lab1-{i}.log"
            cmd = [sys.executable, "-m", "lab1_fastapi", "--port", str(port)]
            started.append((procs.start(cmd, env={"LAB1_ACCESS_LOG": "false"}, log=log), log))
        for (proc, log), port in zip(started, ports, strict=True):
            procs.wait_until(
                lambda port=port: httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200,
                120,
                what=f"replica on {port} ready",
                proc=proc,
                log=log,
            )
        yield [f"http://127.0.0.1:{p}" for p in ports]
    finally:
        for proc, _ in started:
            procs.stop(proc)


def start_nginx(servers: list[str], prefix: Path):
    """Debian's nginx on a free port in front of `servers`, config from deploy/lb/render.py."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx missing: `make setup` installs Debian's nginx"
    port = procs.free_port()
    rendered = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "lb" / "render.py"), "--listen",
         f"127.0.0.1:{port}", "--prefix", str(prefix), *servers],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    conf = prefix / "nginx.conf"
    conf.write_text(rendered.stdout)
    log = prefix / "stderr.log"
    proc = procs.start([nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"], log=log)
    url = f"http://127.0.0.1:{port}"
    procs.wait_until(
        lambda: httpx.get(f"{url}/lb-health").status_code == 200,
        30,
        what="nginx up",
        proc=proc,
        log=log,
    )
    return proc, url


@pytest.fixture(scope="module")
def balancer(replicas, tmp_path_factory):
    proc, url = start_nginx(
        [u.removeprefix("http://") for u in replicas], tmp_path_factory.mktemp("nginx")
    )
    try:
        yield url
    finally:
        procs.stop(proc)


def test_requests_spread_over_every_replica(balancer, replicas):
    before = [predictions_served(r) for r in replicas]
    record = example_record(2)
    answered_by = set()
    with httpx.Client(base_url=balancer, timeout=30) as client:
        for _ in range(REQUESTS):
            response = client.post(ROUTE, json=record)
            assert response.status_code == 200, response.text
            answered_by.add(response.headers["x-upstream"])
    counts = [predictions_served(r) - b for r, b in zip(replicas, before, strict=True)]
    assert sum(counts) == REQUESTS, counts
    # Round-robin: every replica served a fair share (not just "more than zero").
    assert min(counts) >= REQUESTS // REPLICAS // 2, counts
    assert len(answered_by) == REPLICAS, answered_by


def test_a_dead_replica_is_routed_around(replicas, tmp_path):
    """A 4th upstream that refuses connections: nginx retries on the others, no client error."""
    dead = f"127.0.0.1:{procs.free_port()}"
    proc, url = start_nginx([u.removeprefix("http://") for u in replicas] + [dead], tmp_path)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            statuses = [client.post(ROUTE, json=example_record(2)).status_code for _ in range(20)]
        assert statuses == [200] * 20, statuses
    finally:
        procs.stop(proc)
