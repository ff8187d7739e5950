"""Integration: the archives on a real TorchServe 0.12 (Java frontend + Python workers)."""

from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from course_models import procs
from lab3_torchserve.client import (
    InferenceClient,
    TorchServeError,
    digit_png,
    fetch_metrics,
    metric_total,
)
from lab3_torchserve.package import MODEL_NAME, mar_name
from lab3_torchserve.server import TorchServe

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def ready_workers(ts, version: str = "1.0") -> list[dict]:
    (entry,) = ts.mgmt.describe(MODEL_NAME, version)
    return [w for w in entry["workers"] if w["status"] == "READY"]


def predict_many(ts, bodies: list, threads: int = 16):
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(ts.infer.predict, bodies))


@pytest.mark.task("3.4")
@pytest.mark.points(1)
def test_registered_with_batching_and_a_worker(torchserve):
    assert torchserve.infer.ping()["status"] == "Healthy"
    (entry,) = torchserve.mgmt.describe(MODEL_NAME)
    assert (entry["modelVersion"], entry["batchSize"], entry["maxBatchDelay"]) == ("1.0", 8, 50)
    assert len(entry["workers"]) == 1 and entry["workers"][0]["status"] == "READY"


@pytest.mark.points(0)
def test_predicts_held_out_digits(torchserve, digits):
    picks = list(range(0, 240, 5))  # 48 held-out samples
    answers = predict_many(torchserve, [digits.x[i].ravel().tolist() for i in picks], threads=4)
    assert all(a.status_code == 200 for a in answers), answers
    accuracy = np.mean([a.label == str(digits.y[i]) for a, i in zip(answers, picks, strict=True)])
    assert accuracy >= 0.9, accuracy
    png = torchserve.infer.predict_png(digit_png(digits.x[picks[0]]))
    assert png.status_code == 200 and png.label == answers[0].label


@pytest.mark.points(0)
def test_concurrent_requests_form_batches_in_order(torchserve, digits):
    def histogram() -> tuple[float, float]:
        text = fetch_metrics(torchserve.metrics_url)
        total = metric_total(text, "DigitsBatchSize_sum")
        return total, metric_total(text, "DigitsBatchSize_count")

    s0, c0 = histogram()
    picks = list(range(100, 148))
    answers = predict_many(torchserve, [digits.x[i].ravel().tolist() for i in picks], threads=24)
    # Every answer belongs to its own request, whatever batch it rode in.
    assert [a.label for a in answers] == [digits.expected_v1[i] for i in picks]
    s1, c1 = histogram()
    assert s1 - s0 == len(picks)
    batches = c1 - c0
    assert batches < len(picks) and (s1 - s0) / batches > 1.0, (s1 - s0, batches)


@pytest.mark.points(0)
def test_bad_input_is_a_4xx_and_spares_its_batch(torchserve, digits):
    bad = torchserve.infer.predict([0.5] * 10)
    assert bad.status_code == 400
    assert bad.body == {"error": "bad_input", "detail": bad.body["detail"]}
    assert "64 values" in bad.body["detail"]
    garbage = torchserve.infer.predict_raw(b"\x00\xffnot-an-image", "application/octet-stream")
    assert garbage.status_code == 400 and "PNG" in garbage.body["detail"]
    bodies = [digits.x[i].ravel().tolist() if i % 3 else [7.0] * 64 for i in range(24)]
    answers = predict_many(torchserve, bodies)
    assert [a.status_code for a in answers] == [200 if i % 3 else 400 for i in range(24)]
    assert [a.label for a in answers if a.ok] == [digits.expected_v1[i] for i in range(24) if i % 3]
    assert torchserve.infer.predict([0.0] * 64, model="no_such_model").status_code == 404


@pytest.mark.task("3.4")
@pytest.mark.points(2)
def test_scale_out_to_two_workers_and_back(torchserve):
    torchserve.mgmt.scale(MODEL_NAME, 2)
    try:
        procs.wait_until(lambda: len(ready_workers(torchserve)) == 2, 60, what="2 READY workers")
        workers = ready_workers(torchserve)
        assert len({w["pid"] for w in workers}) == 2
        assert all(torchserve.local().owns(w["pid"]) for w in workers)
        (entry,) = torchserve.mgmt.describe(MODEL_NAME)
        assert entry["minWorkers"] == 2
    finally:
        torchserve.mgmt.scale(MODEL_NAME, 1)
    procs.wait_until(lambda: len(torchserve.mgmt.describe(MODEL_NAME)[0]["workers"]) == 1, 60)


@pytest.mark.points(0)
def test_killed_worker_is_restarted(torchserve, digits):
    (worker,) = ready_workers(torchserve)
    pid = worker["pid"]
    assert torchserve.local().owns(pid), "describe reported a pid that is not ours"
    os.kill(pid, signal.SIGKILL)

    def replaced() -> bool:
        workers = ready_workers(torchserve)
        return len(workers) == 1 and workers[0]["pid"] != pid

    procs.wait_until(replaced, timeout=90, interval=0.5, what="a new READY worker")
    answer = torchserve.infer.predict(digits.x[0].ravel().tolist())
    assert answer.status_code == 200 and answer.label == digits.expected_v1[0]


@pytest.mark.points(0)
def test_two_versions_and_default_switch(torchserve, digits):
    mgmt, infer = torchserve.mgmt, torchserve.infer
    body = digits.x[0].ravel().tolist()
    mgmt.register(mar_name(2), MODEL_NAME, batch_size=8, max_batch_delay_ms=50, initial_workers=1)
    try:
        versions = {e["modelVersion"] for e in mgmt.describe(MODEL_NAME, "all")}
        assert versions == {"1.0", "2.0"}
        assert infer.predict(body).body["model_version"] == "1.0"  # first registered stays default
        assert infer.predict(body, version="2.0").body["model_version"] == "2.0"
        mgmt.set_default(MODEL_NAME, "2.0")
        assert infer.predict(body).body["model_version"] == "2.0"
        assert infer.predict(body, version="1.0").body["model_version"] == "1.0"
        mgmt.set_default(MODEL_NAME, "1.0")
        assert infer.predict(body).body["model_version"] == "1.0"
    finally:
        mgmt.set_default(MODEL_NAME, "1.0")
        mgmt.unregister(MODEL_NAME, "2.0")
    with pytest.raises(TorchServeError) as missing:
        mgmt.describe(MODEL_NAME, "2.0")
    assert missing.value.status_code == 404


@pytest.mark.points(0)
def test_prometheus_metrics_include_custom_ones(torchserve, digits):
    torchserve.infer.predict(digits.x[0].ravel().tolist())
    torchserve.infer.predict([9.0] * 64)  # one bad input, counted by the handler
    text = fetch_metrics(torchserve.metrics_url)
    for line in (
        "# TYPE ts_inference_requests_total counter",
        "# TYPE ts_queue_latency_microseconds counter",
        "# TYPE DigitsBatchSize histogram",
        "# TYPE DigitsBadInputs counter",
        "# TYPE DigitsPreprocessMs gauge",
    ):
        assert line in text
    assert metric_total(text, "ts_inference_requests_total", model_name=MODEL_NAME) >= 2
    assert metric_total(text, "DigitsBatchSize_bucket", ModelName=MODEL_NAME, le="+Inf") >= 1
    assert metric_total(text, "DigitsBadInputs", ModelName=MODEL_NAME) >= 1
    assert metric_total(text, "Requests4XX") >= 1


@pytest.mark.points(0)
def test_second_instance_is_isolated_and_stops_cleanly(torchserve, model_store, tmp_path):
    """Another TorchServe next to the session one (own TMPDIR/pid file/ports), then stopped."""
    other = TorchServe(model_store, workdir=tmp_path)
    with other:
        assert InferenceClient(other.inference_url).ping()["status"] == "Healthy"
        assert other.inference_port != torchserve.local().inference_port
        assert (tmp_path / "tmp" / ".model_server.pid").exists()
        java = other.proc.pid
    assert other.proc is None
    with pytest.raises(ProcessLookupError):
        os.killpg(java, 0)  # the whole process group is gone
    assert torchserve.infer.ping()["status"] == "Healthy"  # the session instance is untouched


@pytest.mark.points(0)
def test_make_lab3_entry_point_serves_and_stops_on_ctrl_c(model_store, tmp_path, digits):
    """What `make lab-3` runs: builds nothing (store given), registers both models, Ctrl-C stops."""
    ports = {k: str(procs.free_port()) for k in ("INFERENCE", "MANAGEMENT", "METRICS")}
    env = {f"LAB3_{k}_PORT": v for k, v in ports.items()} | {"LAB3_MODEL_STORE": str(model_store)}
    log = tmp_path / "lab3.out"
    proc = procs.start([sys.executable, "-m", "lab3_torchserve.run"], env=env, log=log)
    inference = f"http://127.0.0.1:{ports['INFERENCE']}"
    try:
        procs.wait_until(
            lambda: "Ctrl-C stops it" in log.read_text(),
            timeout=300,
            what="lab-3 ready",
            proc=proc,
            log=log,
        )
        client = InferenceClient(inference)
        answer = client.predict(digits.x[2].ravel().tolist(), version="2.0")
        assert answer.status_code == 200 and answer.body["model_version"] == "2.0"
        assert client.classify("please cancel my plan").label == "cancel"
        assert "curl -s" in log.read_text() and "support_intent" in log.read_text()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        assert proc.wait(timeout=120) == 0, procs.tail(log)
    finally:
        procs.stop(proc)
    assert "stopped" in log.read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{inference}/ping", timeout=2)
