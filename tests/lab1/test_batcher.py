"""Task 1.4: the micro-batcher. Over HTTP (graded): batched answers equal unbatched ones,
concurrent requests share model calls (``lab1_model_call_rows`` in /metrics), and a lone client
is not kept waiting. Unit checks of this implementation's internals follow with 0 points.
"""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from course_models.artifacts import load_artifact
from course_models.tabular import example_record, predict_proba, records_to_frame
from lab1_fastapi.batching import MicroBatcher

MODES = ["blocking", "threadpool", "batched"]
ROWS = re.compile(r'^lab1_model_call_rows_(count|sum)\{model="churn",version="2"\} (\S+)$', re.M)


def _call_rows(api) -> dict[str, float]:
    """Model calls so far for v2 and the rows they carried, from /metrics."""
    return {k: float(v) for k, v in ROWS.findall(api.get("/metrics").text)}


@pytest.mark.task("1.4")
@pytest.mark.points(2)
def test_batched_route_answers_like_the_unbatched_ones(api, record_v2):
    records = [dict(record_v2, tenure_months=t) for t in (1, 12, 40)]
    answers = {}
    for mode in MODES:
        r = api.post(f"/lab/{mode}/predict", json={"instances": records})
        assert r.status_code == 200, (mode, r.text)
        answers[mode] = [p["churn_probability"] for p in r.json()["predictions"]]
    assert answers["batched"] == pytest.approx(answers["threadpool"], abs=1e-12)
    assert answers["blocking"] == pytest.approx(answers["threadpool"], abs=1e-12)


@pytest.mark.task("1.4")
@pytest.mark.points(3)
def test_concurrent_requests_share_model_calls(lab_url, api, record_v2):
    """32 clients at once, one row each: fewer model calls than requests, every row answered."""
    singles = {}
    for t in range(32):
        r = api.post("/lab/threadpool/predict", json=dict(record_v2, tenure_months=t))
        singles[t] = r.json()["predictions"][0]["churn_probability"]
    before = _call_rows(api)
    gate = threading.Barrier(32)

    def one(t: int) -> float:
        with httpx.Client(base_url=lab_url, timeout=30) as client:
            client.get("/health")  # connect first, so the requests themselves start together
            gate.wait(timeout=30)
            r = client.post("/lab/batched/predict", json=dict(record_v2, tenure_months=t))
            assert r.status_code == 200, r.text
            return r.json()["predictions"][0]["churn_probability"]

    with ThreadPoolExecutor(32) as pool:
        got = list(pool.map(one, range(32)))
    after = _call_rows(api)
    assert got == pytest.approx([singles[t] for t in range(32)], abs=1e-12)
    assert after["sum"] - before["sum"] == 32
    assert after["count"] - before["count"] < 32, "no two concurrent requests shared a call"


@pytest.mark.task("1.4")
@pytest.mark.points(2)
def test_batched_mode_setting_routes_every_predict_through_the_batcher(
    serve_app, trained_artifacts, record_v2
):
    with serve_app(artifacts_dir=trained_artifacts, predict_mode="batched") as client:
        expected = client.post("/lab/threadpool/predict", json=record_v2).json()["predictions"]
        for path in ("/v2/churn/predict", "/predict"):
            r = client.post(path, json=record_v2)
            assert r.status_code == 200, (path, r.text)
            assert r.json()["predictions"] == expected
            assert "batch;dur=" in r.headers["server-timing"]


@pytest.mark.task("1.4")
@pytest.mark.points(3)
def test_a_lone_client_is_not_kept_waiting(start_server, trained_artifacts, tmp_path, record_v2):
    """The batcher may wait a minute for company, but sequential requests never have any:
    each must be answered at once (a batcher that always waits fails here within 10 s)."""
    log = tmp_path / "uvicorn.log"
    settings = {"artifacts_dir": trained_artifacts, "batch_max_wait_ms": 60_000}
    with start_server(log, **settings) as (url, _), httpx.Client(base_url=url, timeout=10) as c:
        for t in range(3):
            r = c.post("/lab/batched/predict", json=dict(record_v2, tenure_months=t))
            assert r.status_code == 200, r.text


def _run(coro):
    return asyncio.run(coro)


async def _with_batcher(predict, jobs, **kwargs):
    batcher = MicroBatcher(predict, **kwargs)
    await batcher.start()
    try:
        results = await asyncio.gather(*(batcher.submit(j) for j in jobs), return_exceptions=True)
    finally:
        await batcher.stop()
    return batcher, results


@pytest.fixture(scope="module")
def churn_v2(trained_artifacts):
    return load_artifact("churn", 2, trained_artifacts).model


def _records(n: int) -> list[dict]:
    rng = np.random.default_rng(0)
    base = example_record(2)
    return [
        dict(base, tenure_months=int(rng.integers(0, 73)), satisfaction_score=float(s))
        for s in rng.uniform(1, 5, size=n)
    ]


@pytest.mark.points(0)
def test_batched_answers_match_single_predictions_in_order(churn_v2):
    records = _records(24)
    jobs = [records[i : i + k] for i, k in zip(range(0, 24, 3), [3] * 8, strict=True)]
    jobs += [[r] for r in _records(5)]

    def predict(items):
        return predict_proba(churn_v2, records_to_frame(items, 2), 2)

    batcher, results = _run(_with_batcher(predict, jobs, max_items=16, max_wait_ms=50))
    for job, got in zip(jobs, results, strict=True):
        expected = [predict(job_one)[0] for job_one in ([r] for r in job)]
        assert got == pytest.approx(expected, abs=1e-6)
    assert batcher.stats.items == sum(len(j) for j in jobs)
    assert batcher.stats.calls < len(jobs), "concurrent requests were not batched"
    assert batcher.stats.largest <= 16 + 3  # a batch closes once it reaches max_items


@pytest.mark.points(0)
def test_order_preserved_with_identity_model():
    jobs = [[f"job{j}-item{i}" for i in range(j % 4 + 1)] for j in range(30)]
    batcher, results = _run(
        _with_batcher(lambda items: [s.upper() for s in items], jobs, max_items=8, max_wait_ms=20)
    )
    assert results == [[s.upper() for s in job] for job in jobs]
    assert batcher.stats.calls < len(jobs)


@pytest.mark.points(0)
def test_a_failing_request_does_not_fail_its_neighbours():
    calls = []

    def predict(items):
        calls.append(list(items))
        if any(i < 0 for i in items):
            raise ValueError("negative input")
        return [i * 10 for i in items]

    jobs = [[1, 2], [-1], [3], [4, -5], [6]]
    _, results = _run(_with_batcher(predict, jobs, max_items=64, max_wait_ms=50))
    assert results[0] == [10, 20]
    assert isinstance(results[1], ValueError)
    assert results[2] == [30]
    assert isinstance(results[3], ValueError)
    assert results[4] == [60]
    assert len(calls[0]) == 7, "first attempt should have been one combined call"


@pytest.mark.points(0)
def test_wrong_result_count_is_an_error_not_a_misalignment():
    _, results = _run(_with_batcher(lambda items: [0], [[1, 2]], max_wait_ms=1))
    assert isinstance(results[0], RuntimeError)


@pytest.mark.points(0)
def test_model_runs_off_the_event_loop_thread():
    loop_thread = []

    def predict(items):
        loop_thread.append(threading.current_thread() is threading.main_thread())
        return items

    _run(_with_batcher(predict, [[1], [2]], max_wait_ms=5))
    assert loop_thread and not any(loop_thread)


@pytest.mark.points(0)
def test_submit_after_stop_fails_cleanly():
    async def scenario():
        batcher = MicroBatcher(lambda items: items)
        await batcher.start()
        await batcher.stop()
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit([1])

    _run(scenario())


@pytest.mark.points(0)
def test_batcher_does_not_wait_for_a_lone_caller():
    """Sequential requests never combine, so the batcher must not sit out max_wait_ms."""

    async def scenario():
        batcher = MicroBatcher(lambda items: items, max_wait_ms=600_000)
        await batcher.start()
        try:
            for i in range(3):
                # Far below max_wait: this only passes if the batcher did not wait for company.
                assert await asyncio.wait_for(batcher.submit([i]), timeout=30) == [i]
        finally:
            await batcher.stop()
        return batcher.stats

    stats = _run(scenario())
    assert stats.calls == 3
