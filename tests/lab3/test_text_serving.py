"""support_intent on a real TorchServe: batching from its archive, answers in order, readiness."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from course_models import procs
from course_models.text_data import INTENTS, support_splits
from lab3_torchserve import ready
from lab3_torchserve.client import fetch_metrics, metric_total
from lab3_torchserve.package import TEXT_MODEL

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def classify_many(ts, bodies: list, plain: bool = False, threads: int = 16):
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda b: ts.infer.classify(b, plain=plain), bodies))


@pytest.mark.task("3.1")
@pytest.mark.points(4)
def test_concurrent_messages_answered_in_order(torchserve):
    texts, labels = support_splits(42).test
    picks = list(range(48))
    answers = classify_many(torchserve, [texts[i] for i in picks], threads=24)
    assert all(a.status_code == 200 for a in answers), answers[:3]
    right = sum(a.label == INTENTS[labels[i]] for a, i in zip(answers, picks, strict=True))
    assert right / len(picks) >= 0.9
    again = classify_many(torchserve, [texts[i] for i in picks], plain=True, threads=24)
    assert [a.label for a in again] == [a.label for a in answers]  # same answer, any batch


@pytest.mark.task("3.1")
@pytest.mark.points(3)
def test_bad_messages_are_400_and_spare_their_batch(torchserve):
    good = "please cancel my subscription today"
    bodies = [good if i % 3 else ("" if i % 2 else {"not": "text"}) for i in range(18)]
    answers = classify_many(torchserve, bodies)
    assert [a.status_code for a in answers] == [200 if i % 3 else 400 for i in range(18)]
    assert {a.label for a in answers if a.ok} == {"cancel"}
    bad = answers[0].body
    assert bad["error"] == "bad_input" and bad["field"] == "text" and bad["detail"]
    long = torchserve.infer.classify("word " * 400)
    assert long.status_code == 400 and "limit" in long.body["detail"]


@pytest.mark.task("3.3")
@pytest.mark.points(3)
def test_archive_config_sets_batching_and_workers(torchserve):
    """Registered without batch parameters: the values come from the archive's YAML."""
    (entry,) = torchserve.mgmt.describe(TEXT_MODEL)
    assert entry["batchSize"] == 8 and 1 <= entry["maxBatchDelay"] <= 100
    assert entry["minWorkers"] >= 1
    assert any(w["status"] == "READY" for w in entry["workers"])


@pytest.mark.task("3.4")
@pytest.mark.points(3)
def test_scale_text_model_out_and_back(torchserve):
    mgmt = torchserve.mgmt
    mgmt.scale(TEXT_MODEL, 2)
    try:
        (entry,) = mgmt.describe(TEXT_MODEL)
        ready_pids = {w["pid"] for w in entry["workers"] if w["status"] == "READY"}
        assert entry["minWorkers"] == 2 and len(ready_pids) == 2
        assert torchserve.infer.classify("the app crashes on start").label == "technical"
    finally:
        mgmt.scale(TEXT_MODEL, 1)
    procs.wait_until(lambda: len(mgmt.describe(TEXT_MODEL)[0]["workers"]) == 1, 120)


@pytest.mark.task("3.5")
@pytest.mark.points(2)
def test_tokens_per_batch_on_prometheus(torchserve):
    if not torchserve.metrics_url:
        pytest.fail("set LAB3_METRICS_URL next to LAB3_URL to grade the metrics task")
    before = metric_total(fetch_metrics(torchserve.metrics_url), "TextTokensPerBatch_count")
    classify_many(torchserve, ["thanks, great service"] * 8)
    text = fetch_metrics(torchserve.metrics_url)
    assert "# TYPE TextTokensPerBatch histogram" in text
    assert metric_total(text, "TextTokensPerBatch_count", ModelName=TEXT_MODEL) > before
    assert metric_total(text, "TextTokensPerBatch_sum", ModelName=TEXT_MODEL) > 0


@pytest.mark.points(0)
def test_readiness_follows_a_killed_worker(torchserve):
    """/ping stays Healthy; lab readiness goes false while the only worker is gone, then back."""
    server = torchserve.local()
    url = server.management_url
    assert ready.check(url, (TEXT_MODEL,))
    (entry,) = torchserve.mgmt.describe(TEXT_MODEL)
    (pid,) = [w["pid"] for w in entry["workers"] if w["status"] == "READY"]
    assert server.owns(pid)
    os.kill(pid, signal.SIGKILL)
    procs.wait_until(lambda: not ready.check(url), 60, interval=0.05, what="readiness to drop")
    assert torchserve.infer.ping()["status"] == "Healthy"  # TorchServe's own check: still fine
    procs.wait_until(lambda: bool(ready.check(url)), 180, what="a replacement READY worker")
    assert torchserve.infer.classify("I love the app").label == "praise"


@pytest.mark.points(0)
def test_ready_cli_exit_codes(torchserve, tmp_path):
    url = torchserve.local().management_url
    assert ready.main(["--management", url, "--model", TEXT_MODEL]) == 0
    assert ready.main(["--management", url, "--model", "no_such_model"]) == 1
    assert ready.main(["--management", f"http://127.0.0.1:{procs.free_port()}"]) == 1
