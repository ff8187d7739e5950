"""The micro-batcher: same answers as one-by-one, in order, errors kept to their request."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from course_models.artifacts import load_artifact
from course_models.tabular import example_record, predict_proba, records_to_frame
from lab1_fastapi.batching import MicroBatcher


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


@pytest.mark.points(3)
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


@pytest.mark.points(2)
def test_order_preserved_with_identity_model():
    jobs = [[f"job{j}-item{i}" for i in range(j % 4 + 1)] for j in range(30)]
    batcher, results = _run(
        _with_batcher(lambda items: [s.upper() for s in items], jobs, max_items=8, max_wait_ms=20)
    )
    assert results == [[s.upper() for s in job] for job in jobs]
    assert batcher.stats.calls < len(jobs)


@pytest.mark.points(3)
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


@pytest.mark.points(1)
def test_wrong_result_count_is_an_error_not_a_misalignment():
    _, results = _run(_with_batcher(lambda items: [0], [[1, 2]], max_wait_ms=1))
    assert isinstance(results[0], RuntimeError)


@pytest.mark.points(1)
def test_model_runs_off_the_event_loop_thread():
    loop_thread = []

    def predict(items):
        loop_thread.append(threading.current_thread() is threading.main_thread())
        return items

    _run(_with_batcher(predict, [[1], [2]], max_wait_ms=5))
    assert loop_thread and not any(loop_thread)


@pytest.mark.points(1)
def test_submit_after_stop_fails_cleanly():
    async def scenario():
        batcher = MicroBatcher(lambda items: items)
        await batcher.start()
        await batcher.stop()
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit([1])

    _run(scenario())


@pytest.mark.points(1)
def test_a_lone_client_is_not_kept_waiting():
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
