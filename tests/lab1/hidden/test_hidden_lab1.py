"""Instructor-only checks (absent from the student edition): the same specification from
angles the public checks do not show, so a solution tuned to the visible tests still has to
be right. Through HTTP only, like the public graded checks."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest


@pytest.mark.task("1.1")
@pytest.mark.points(1)
def test_one_broken_version_leaves_the_other_listed_as_loaded(serve_app, artifacts_copy):
    model = artifacts_copy / "churn" / "1" / "model.joblib"
    model.write_bytes(model.read_bytes()[:-100])
    with serve_app(artifacts_dir=artifacts_copy) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/json")
        body = ready.json()
        assert body["loaded"] == [2]
        assert [(e["version"], e["reason"]) for e in body["errors"]] == [(1, "corrupt")]


@pytest.mark.task("1.2")
@pytest.mark.points(1)
def test_bounds_are_inclusive_and_every_enum_value_is_accepted(api, record_v1):
    for edge in (dict(record_v1, age=18), dict(record_v1, age=100, tenure_months=0)):
        assert api.post("/v1/churn/predict", json=edge).status_code == 200, edge
    for method in ("electronic-check", "mailed-check", "bank-transfer", "credit-card"):
        r = api.post("/v1/churn/predict", json=dict(record_v1, payment_method=method))
        assert r.status_code == 200, (method, r.text)
    r = api.post("/v1/churn/predict", json=dict(record_v1, has_partner=0))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["detail"]] == ["has_partner"]


@pytest.mark.task("1.3")
@pytest.mark.points(1)
def test_v2_batch_answers_per_instance_and_v1_bytes_hold_for_batches(api, record_v1):
    records = [dict(record_v1, tenure_months=t) for t in (2, 30, 70)]
    v2 = api.post("/v2/churn/predict", json={"instances": records})
    assert v2.status_code == 200, v2.text
    for pred in v2.json()["predictions"]:
        probs = pred["probabilities"]
        assert list(probs) == ["stays", "churns"]
        assert probs["stays"] + probs["churns"] == pytest.approx(1.0)
    v1 = api.post("/v1/churn/predict", json={"instances": records}, headers={"X-Request-ID": "h-1"})
    body = v1.json()
    assert all(list(p) == ["churn_probability", "label"] for p in body["predictions"])
    assert v1.content == json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.task("1.4")
@pytest.mark.points(1)
def test_batched_multi_row_requests_get_their_own_rows_back(lab_url, api, record_v2):
    """Requests of different sizes batched together: every caller gets its own slice."""
    jobs = [
        [dict(record_v2, tenure_months=(i * 7 + k) % 73) for k in range(i % 4 + 1)]
        for i in range(24)
    ]
    expected = [
        [
            p["churn_probability"]
            for p in api.post("/lab/threadpool/predict", json={"instances": j}).json()[
                "predictions"
            ]
        ]
        for j in jobs
    ]

    def one(job):
        with httpx.Client(base_url=lab_url, timeout=30) as client:
            r = client.post("/lab/batched/predict", json={"instances": job})
            assert r.status_code == 200, r.text
            return [p["churn_probability"] for p in r.json()["predictions"]]

    with ThreadPoolExecutor(12) as pool:
        got = list(pool.map(one, jobs))
    assert got == [pytest.approx(e, abs=1e-12) for e in expected]
