"""A real Prometheus (Debian's package) scraping all five labs' real servers with the repo's
scrape configuration (deploy/prometheus/scrape.py, rendered with this test's ports) and rules.

Each lab is started through its public entry point (lab 2: redis-server, a Celery worker and
gunicorn; lab 3: TorchServe on Java; lab 4: the TF-Serving-compatible stand-in), two at a time
in the background, one fixture per lab so a lab that fails to start is named. The test waits on
Prometheus' targets API until every job is `up`, drives a little traffic per lab, then waits
until a query on the lab's own series shows it, and checks that every series an alert rule
reads is really exported. Nothing sleeps blindly: every wait polls an answer. The alert rules
themselves are unit-tested with `promtool test rules`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from course_models import procs
from course_models.tabular import example_record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "deploy" / "prometheus"


def promtool(*args: str) -> str:
    result = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_alert_rules_pass_promtool_unit_tests():
    assert shutil.which("promtool"), "promtool missing: `make setup` installs Debian's prometheus"
    promtool("check", "rules", str(PROM_DIR / "rules.yml"))
    assert "SUCCESS" in promtool("test", "rules", str(PROM_DIR / "rules_test.yml"))


def test_compose_scrape_config_is_generated():
    result = subprocess.run(
        [sys.executable, str(PROM_DIR / "scrape.py"), "--compose", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- the five labs, really running
@dataclass
class Lab:
    """One started lab: where traffic goes, what Prometheus scrapes, how to stop it."""

    job: str
    base: str
    scrape: str  # host:port of the metrics endpoint (the job's path is in scrape.py)
    stop: Callable[[], None]
    management: str = ""  # lab 3 only


def process_lab(
    job: str,
    cmd: list[str],
    env: dict[str, str],
    port: int,
    log: Path,
    ready: str = "/ready",
    timeout: float = 120,
) -> Lab:
    """A lab that is one process (labs 1, 4 and 5), started like `make lab-N`, waited on until
    ``ready`` answers 200."""
    proc = procs.start(cmd, env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    lab = Lab(job, base, base.removeprefix("http://"), lambda: procs.stop(proc))
    with stopped_on_error(lab):
        procs.wait_http(f"{base}{ready}", timeout=timeout, proc=proc, log=log)
    return lab


@contextlib.contextmanager
def stopped_on_error(lab: Lab) -> Iterator[None]:
    try:
        yield
    except BaseException:
        lab.stop()
        raise


def start_lab1(tmp: Path) -> Lab:
    port = procs.free_port()
    cmd = [sys.executable, "-m", "lab1_fastapi", "--port", str(port)]
    return process_lab("lab1-fastapi", cmd, {"LAB1_ACCESS_LOG": "false"}, port, tmp / "lab1.log")


def start_lab5(tmp: Path) -> Lab:
    port = procs.free_port()
    cmd = [sys.executable, "-m", "lab5_batch_vs_realtime", "serve", "--port", str(port)]
    env = {"LAB5_TENANTS_DIR": str(tmp / "tenants")}
    return process_lab("lab5-realtime", cmd, env, port, tmp / "lab5.log")


def start_lab2(tmp: Path) -> Lab:
    """redis-server, a Celery worker and gunicorn, through the lab's own Stack (as make lab-2)."""
    from lab2_flask_celery.chaos import FAST
    from lab2_flask_celery.services import Stack

    stack = Stack(tmp / "lab2", **FAST)
    lab = Lab("lab2-flask", "", "", stack.close)
    with stopped_on_error(lab):
        stack.start_redis()
        stack.start_worker()
        _, lab.base = stack.start_gunicorn()
    lab.scrape = lab.base.removeprefix("http://")
    return lab


def start_lab3(tmp: Path) -> Lab:
    """Real TorchServe (Java) with both models, registered and waited on as make lab-3 does."""
    from lab3_torchserve.client import ManagementClient
    from lab3_torchserve.package import MODEL_NAME, TEXT_MODEL, build_mar, build_text_mar
    from lab3_torchserve.run import register_all, wait_ready
    from lab3_torchserve.server import TorchServe
    from lab3_torchserve.settings import Lab3Settings

    store = tmp / "lab3-store"
    store.mkdir()
    build_mar(1, store)
    build_text_mar(1, store)
    server = TorchServe(store, workdir=tmp / "lab3")  # its own TMPDIR, logs and free ports
    lab = Lab("lab3-torchserve", server.inference_url, "", server.stop, server.management_url)
    lab.scrape = server.metrics_url.removeprefix("http://")
    with stopped_on_error(lab):
        server.start(timeout=150)
        mgmt = ManagementClient(server.management_url)
        try:
            register_all(mgmt, Lab3Settings(versions=[1]), [MODEL_NAME, TEXT_MODEL])
        finally:
            mgmt.close()
        wait_ready(server, 150)
    return lab


def start_lab4(tmp: Path) -> Lab:
    """The lab's SavedModels (its export CLI) served by its stand-in's own command line."""
    from lab4_tf_serving.launcher import standin_cmd
    from lab4_tf_serving.settings import LAB_DIR, Settings

    models = tmp / "lab4-models"
    export = subprocess.run(
        [sys.executable, "-m", "lab4_tf_serving", "export", "--out", str(models)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert export.returncode == 0, f"lab 4's export failed: {export.stderr[-800:]}"
    s = Settings(models_dir=models, config_file=LAB_DIR / "models.config")
    rest, grpc = procs.free_port(), procs.free_port()
    cmd = standin_cmd(s, rest, grpc)
    log = tmp / "lab4.log"
    return process_lab("lab4-tfserving", cmd, {}, rest, log, "/v1/models/digits", timeout=150)


# Slowest first: two start at a time, so TorchServe's JVM overlaps everything else.
STARTERS: dict[str, Callable[[Path], Lab]] = {
    "lab3-torchserve": start_lab3,
    "lab4-tfserving": start_lab4,
    "lab2-flask": start_lab2,
    "lab1-fastapi": start_lab1,
    "lab5-realtime": start_lab5,
}


def fixture_name(job: str) -> str:
    return job.split("-")[0]


def labs_used(items: list[pytest.Item]) -> set[str]:
    """The fixtures the tests use, with the lab of each rule group's check."""
    used = set()
    for item in items:
        used.update(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "group" in params:
            used.add(fixture_name(params["group"]))
    return used


@pytest.fixture(scope="module")
def starting(tmp_path_factory, trained_artifacts, request) -> Iterator[dict[str, Future[Lab]]]:
    """The labs the selected tests use (every lab if none names one) starting in the
    background; each lab's fixture waits for its own."""
    used = labs_used([item for item in request.session.items if item.path == request.path])
    jobs = [job for job in STARTERS if fixture_name(job) in used] or list(STARTERS)
    tmp = tmp_path_factory.mktemp("labs")
    pool = ThreadPoolExecutor(2, thread_name_prefix="prom-lab")
    futures = {job: pool.submit(STARTERS[job], tmp) for job in jobs}
    try:
        yield futures
    finally:
        pool.shutdown(wait=True)
        for future in futures.values():
            if future.exception() is None:
                future.result().stop()


def lab_fixture(job: str) -> Callable[..., Lab]:
    @pytest.fixture(scope="module", name=fixture_name(job))
    def _lab(starting: dict[str, Future[Lab]]) -> Lab:
        return starting[job].result(timeout=230)

    return _lab


lab1, lab2, lab3, lab4, lab5 = map(lab_fixture, sorted(STARTERS))


@pytest.fixture(scope="module")
def prometheus(starting, tmp_path_factory) -> Iterator[str]:
    """Prometheus scraping every lab that started (a lab that failed fails its own tests)."""
    assert shutil.which("prometheus"), "prometheus missing: `make setup` installs Debian's package"
    wait(list(starting.values()), timeout=230)  # each start has its own, shorter, waits
    labs = [f.result() for f in starting.values() if f.done() and f.exception() is None]
    assert labs, "no lab started"
    tmp = tmp_path_factory.mktemp("prometheus")
    config = tmp / "prometheus.yml"
    targets = [f"--target={lab.job}={lab.scrape}" for lab in labs]
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
    jobs = {lab.job for lab in labs}
    try:
        procs.wait_until(lambda: all_up(url, jobs), 90, what="every target up", proc=proc, log=log)
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


def wait_at_least(url: str, promql: str, n: float, timeout: float = 60) -> None:
    """Until Prometheus has scraped the traffic: the query's value reaches ``n``."""
    procs.wait_until(lambda: scalar(url, promql) >= n, timeout, what=f"{promql} >= {n}")


# --------------------------------------------------------------------------- traffic per lab
def post_ok(client: httpx.Client, path: str, body: dict, times: int) -> None:
    for _ in range(times):
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def lab1_traffic(lab1: Lab) -> None:
    record = example_record(2)
    with httpx.Client(base_url=lab1.base, timeout=30) as client:
        post_ok(client, "/v2/churn/predict", record, 20)
        assert client.post("/v2/churn/predict", json=dict(record, age=250)).status_code == 422


@pytest.fixture(scope="module")
def lab2_traffic(lab2: Lab) -> None:
    """Light predictions, and one explanation through Redis and the Celery worker."""
    record = example_record(2)
    with httpx.Client(base_url=lab2.base, timeout=30) as client:
        post_ok(client, "/predict", record, 10)
        submitted = client.post("/jobs/explain", json=record)
        assert submitted.status_code == 202, submitted.text
        location = submitted.headers["Location"]
        procs.wait_until(
            lambda: client.get(location).json()["status"] in {"success", "failure"},
            90,
            what="the Celery job to finish",
        )
        assert client.get(location).json()["status"] == "success"


@pytest.fixture(scope="module")
def lab3_traffic(lab3: Lab) -> None:
    """Both models; a bad body (400) and a model without a worker (503) feed the error counters."""
    from course_models.datasets import load_digits_split
    from lab3_torchserve.client import InferenceClient, ManagementClient
    from lab3_torchserve.package import mar_name

    _, x_test, _, _ = load_digits_split()
    infer = InferenceClient(lab3.base)
    mgmt = ManagementClient(lab3.management)
    try:
        for pixels in x_test[:5]:
            assert infer.predict(pixels).status_code == 200
        assert infer.predict_raw(b"not json", "application/json").status_code == 400
        assert infer.classify("please cancel my plan").status_code == 200
        mgmt.register(mar_name(1), "digits_idle", initial_workers=0)
        assert infer.predict(x_test[0], model="digits_idle").status_code == 503
    finally:
        infer.close()
        mgmt.close()


@pytest.fixture(scope="module")
def lab4_traffic(lab4: Lab) -> None:
    """REST predictions, and one for a model that is not served (NOT_FOUND)."""
    from course_models.datasets import load_digits_split
    from lab4_tf_serving.client import RestClient

    _, x_test, _, _ = load_digits_split()
    with httpx.Client(base_url=lab4.base, timeout=30) as http:
        missing = http.post("/v1/models/nope:predict", json={"instances": [[0.0]]})
    assert missing.status_code == 404, missing.text
    client = RestClient(lab4.base)
    try:
        for _ in range(5):
            assert client.predict("digits", x_test[:2]).shape == (2, 10)
    finally:
        client.close()


@pytest.fixture(scope="module")
def lab5_traffic(lab5: Lab) -> None:
    body = {"entity_id": "customer-1", "features": example_record(2)}
    with httpx.Client(base_url=lab5.base, timeout=30) as client:
        post_ok(client, "/predict", body, 10)


# ------------------------------------------------------------------------------------ checks
def test_prometheus_loaded_the_rules(prometheus):
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    names = {g["name"] for g in groups}
    assert set(RULE_GROUPS) <= names
    alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert {
        "Lab1LatencyP95High",
        "Lab2QueueBacklog",
        "Lab3ErrorRatioHigh",
        "Lab4LatencyP95High",
        "Lab5ErrorRatioHigh",
    } <= alerts


def test_lab1_series_after_traffic(prometheus, lab1_traffic):
    wait_at_least(prometheus, 'sum(lab1_http_requests_total{route="/v2/churn/predict"})', 21)
    statuses = query(
        prometheus, 'sum by (status) (lab1_http_requests_total{route="/v2/churn/predict"})'
    )
    by_status = {r["metric"]["status"]: float(r["value"][1]) for r in statuses}
    assert by_status["200"] >= 20 and by_status["422"] >= 1, by_status
    assert query(prometheus, "lab1_http_request_duration_seconds_bucket")


def test_lab2_series_after_traffic(prometheus, lab2_traffic):
    wait_at_least(prometheus, 'sum(lab2_requests_total{endpoint="/predict",status="200"})', 10)
    wait_at_least(prometheus, 'sum(lab2_requests_total{endpoint="/jobs/explain",status="202"})', 1)
    wait_at_least(prometheus, 'sum(lab2_request_seconds_count{endpoint="/predict"})', 10)
    # Read from Redis at each scrape: NaN when Redis is down, 0 once the job has run.
    (depth,) = query(prometheus, "lab2_queue_depth")
    assert float(depth["value"][1]) >= 0, depth


def test_lab3_series_after_traffic(prometheus, lab3_traffic):
    wait_at_least(prometheus, 'sum(ts_inference_requests_total{model_name="digits_cnn"})', 6)
    wait_at_least(prometheus, 'sum(ts_inference_requests_total{model_name="support_intent"})', 1)
    # The lab's own metrics (metrics.yaml), emitted by its handlers in the Python workers.
    wait_at_least(prometheus, 'sum(DigitsBatchSize_count{ModelName="digits_cnn"})', 5)
    wait_at_least(prometheus, "sum(DigitsBadInputs)", 1)
    wait_at_least(prometheus, 'sum(TextBatchSize_count{ModelName="support_intent"})', 1)
    # The frontend's status counters (no series until the first answer of that class).
    wait_at_least(prometheus, "sum(Requests4XX)", 1)
    wait_at_least(prometheus, "sum(Requests5XX)", 1)


def test_lab4_series_after_traffic(prometheus, lab4_traffic):
    # The stand-in's counter carries prometheus_client's _total suffix; TF Serving's has none.
    counter = ":tensorflow:serving:request_count_total"
    wait_at_least(prometheus, f'sum({counter}{{model_name="digits",status="OK"}})', 5)
    wait_at_least(prometheus, f'sum({counter}{{status="NOT_FOUND"}})', 1)
    wait_at_least(prometheus, "sum(:tensorflow:serving:request_latency_count)", 5)


def test_lab5_series_after_traffic(prometheus, lab5_traffic):
    wait_at_least(prometheus, "sum(lab5_predictions_total)", 10)
    assert query(prometheus, "lab5_prediction_seconds_bucket")
    wait_at_least(prometheus, 'sum(lab5_requests_total{route="/predict",status="200"})', 10)


# ------------------------------------------------------- every series the alert rules read
RULES = yaml.safe_load((PROM_DIR / "rules.yml").read_text())["groups"]
RULE_GROUPS = {g["name"]: g["rules"] for g in RULES if g["name"].startswith("lab")}
RECORDED = {r["record"] for g in RULES for r in g["rules"] if "record" in r}
TRAFFIC = {name: f"{fixture_name(name)}_traffic" for name in RULE_GROUPS}
NOT_SERIES = {"by", "without", "on", "ignoring", "bool", "and", "or", "unless", "offset"}


def selectors(expr: str) -> set[str]:
    """The series an expression reads, each as a selector of its name alone: ``name`` or
    ``{__name__=~"..."}``. Label matchers, ranges, grouping clauses and calls are dropped."""
    found = {f'{{__name__=~"{m}"}}' for m in re.findall(r'__name__=~"([^"]+)"', expr)}
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(by|without)\s*\([^)]*\)", " ", expr)
    for name in re.findall(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()", bare):
        if name not in NOT_SERIES and name not in RECORDED:
            found.add(name)
    return found


def test_selectors_reads_names_not_functions_or_labels():
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{route!~"/x|/y"}[5m]))) / 1e6'
        ' > 0.1 and sum(rate({__name__=~"R(2|5)XX"}[5m])) / max(q) > lab1:request_seconds:p95_5m'
    )
    assert selectors(expr) == {"a_bucket", '{__name__=~"R(2|5)XX"}', "q"}


@pytest.mark.parametrize("group", sorted(RULE_GROUPS))
def test_every_rule_reads_series_the_lab_exports(prometheus, group, request):
    """A rule on a series the server never exports is silent forever: each one must exist."""
    request.getfixturevalue(TRAFFIC[group])
    wanted = {s for rule in RULE_GROUPS[group] for s in selectors(rule["expr"])}
    assert wanted, group
    for selector in sorted(wanted):
        wait_at_least(prometheus, f"count({selector})", 1, timeout=30)
