"""A row's answer does not depend on the rows served with it: alone, in one request with others,
or merged with other clients' rows by the micro-batcher, the probability is the same float."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from course_models.scoring import UNKNOWN_CATEGORY, reference_records

ROWS = 24


def _rows(version: int, seed: int) -> list[dict]:
    """Valid API rows with absent optionals and the schema's bounds (no unknown categories)."""
    rows = reference_records(version, 4 * ROWS, seed=seed)
    return [r for r in rows if UNKNOWN_CATEGORY not in r.values()][:ROWS]


def _probabilities(response: httpx.Response) -> list[float]:
    assert response.status_code == 200, response.text
    return [p["churn_probability"] for p in response.json()["predictions"]]


@pytest.mark.points(0)
@pytest.mark.parametrize("version", [1, 2])
def test_one_request_of_many_rows_answers_each_as_if_alone(api, version):
    records = _rows(version, seed=99)
    path = f"/v{version}/churn/predict"
    alone = [_probabilities(api.post(path, json=r))[0] for r in records]
    together = _probabilities(api.post(path, json={"instances": records}))
    assert together == alone  # floats compared exactly: JSON round-trips every bit


@pytest.mark.points(0)
def test_the_micro_batcher_answers_each_row_as_if_alone(lab_url, api):
    records = _rows(2, seed=7)
    alone = [_probabilities(api.post("/lab/threadpool/predict", json=r))[0] for r in records]
    gate = threading.Barrier(len(records))

    def one(record: dict) -> float:
        with httpx.Client(base_url=lab_url, timeout=60) as client:
            client.get("/health")
            gate.wait(timeout=60)
            return _probabilities(client.post("/lab/batched/predict", json=record))[0]

    with ThreadPoolExecutor(len(records)) as pool:
        merged = list(pool.map(one, records))
    assert merged == alone
