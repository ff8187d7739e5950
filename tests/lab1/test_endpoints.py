"""Every endpoint answers with the documented shape; versions, headers and ids behave."""

from __future__ import annotations

import json

import pytest

from course_models.schema import feature_names

V1_KEYS = ["model", "version", "request_id", "predictions"]


@pytest.mark.points(1)
def test_health_is_ok(api):
    r = api.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.points(1)
def test_ready_lists_loaded_versions(api):
    r = api.get("/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["errors"] == []
    assert {1, 2} <= set(body["loaded"])


@pytest.mark.points(1)
@pytest.mark.parametrize("path,version", [("/v1/churn/predict", 1), ("/v2/churn/predict", 2)])
def test_versioned_predict_single(api, path, version, record_v1):
    r = api.post(path, json=record_v1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "churn"
    assert body["version"] == version
    assert body["request_id"] == r.headers["x-request-id"]
    [pred] = body["predictions"]
    assert 0.0 <= pred["churn_probability"] <= 1.0
    assert pred["label"] == ("churns" if pred["churn_probability"] >= 0.5 else "stays")


@pytest.mark.points(1)
def test_default_predict_uses_configured_default(api, record_v2):
    default = api.get("/v1/models/churn").json()["default_version"]
    r = api.post(
        "/predict",
        json=record_v2
        if default >= 2
        else {k: v for k, v in record_v2.items() if k in feature_names(1)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == default


@pytest.mark.points(2)
def test_batch_keeps_order_and_matches_singles(api, record_v2):
    records = [
        dict(record_v2, tenure_months=t, contract=c)
        for t, c in [
            (1, "month-to-month"),
            (60, "two-year"),
            (24, "one-year"),
            (3, "month-to-month"),
        ]
    ]
    batch = api.post("/v2/churn/predict", json={"instances": records})
    assert batch.status_code == 200, batch.text
    probs = [p["churn_probability"] for p in batch.json()["predictions"]]
    singles = [
        api.post("/v2/churn/predict", json=r).json()["predictions"][0]["churn_probability"]
        for r in records
    ]
    assert probs == pytest.approx(singles, abs=1e-9)
    assert len(set(probs)) > 1  # the inputs differ, so must the answers


@pytest.mark.points(2)
def test_v2_optional_feature_is_used_and_probabilities_returned(api, record_v1):
    without = api.post("/v2/churn/predict", json=record_v1)
    low = api.post("/v2/churn/predict", json=dict(record_v1, satisfaction_score=1.0))
    high = api.post("/v2/churn/predict", json=dict(record_v1, satisfaction_score=5.0))
    for r in (without, low, high):
        assert r.status_code == 200, r.text
        pred = r.json()["predictions"][0]
        assert pred["probabilities"]["churns"] == pytest.approx(pred["churn_probability"])
        assert pred["probabilities"]["stays"] == pytest.approx(1 - pred["churn_probability"])
    p = [r.json()["predictions"][0]["churn_probability"] for r in (without, low, high)]
    assert p[1] != p[2], "satisfaction_score must reach the v2 model"


@pytest.mark.points(2)
def test_v1_response_is_exactly_the_v1_shape(api, record_v1):
    """Byte-for-byte: same keys, same order, nothing added by v2 (fixed request id)."""
    r = api.post("/v1/churn/predict", json=record_v1, headers={"X-Request-ID": "contract-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == V1_KEYS
    assert [list(p) for p in body["predictions"]] == [["churn_probability", "label"]]
    expected = {
        "model": "churn",
        "version": 1,
        "request_id": "contract-1",
        "predictions": body["predictions"],
    }
    assert r.content == json.dumps(expected, separators=(",", ":")).encode()


@pytest.mark.points(1)
def test_v1_rejects_the_v2_only_field(api, record_v1):
    r = api.post("/v1/churn/predict", json=dict(record_v1, satisfaction_score=3.0))
    assert r.status_code == 422
    assert "satisfaction_score" in [e["field"] for e in r.json()["detail"]]


@pytest.mark.points(1)
def test_v1_route_announces_deprecation(api, record_v1):
    old = api.post("/v1/churn/predict", json=record_v1)
    new = api.post("/v2/churn/predict", json=record_v1)
    assert old.headers["deprecation"].startswith("@")
    assert "sunset" in old.headers
    assert 'rel="successor-version"' in old.headers["link"]
    assert "/v2/churn/predict" in old.headers["link"]
    assert "deprecation" not in new.headers


@pytest.mark.points(1)
def test_request_id_is_echoed_or_generated(api, record_v1):
    given = api.post("/v2/churn/predict", json=record_v1, headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123" == given.json()["request_id"]
    made = [api.post("/v2/churn/predict", json=record_v1).json()["request_id"] for _ in range(2)]
    assert made[0] != made[1] and all(made)
    hostile = api.get("/health", headers={"X-Request-ID": "x" * 500})
    assert len(hostile.headers["x-request-id"]) <= 64


@pytest.mark.points(2)
def test_model_metadata(api):
    listed = api.get("/v1/models")
    assert listed.status_code == 200
    assert [m["name"] for m in listed.json()["models"]] == ["churn"]
    r = api.get("/v1/models/churn")
    assert r.status_code == 200
    info = r.json()
    by_version = {v["version"]: v for v in info["versions"]}
    assert set(by_version) >= {1, 2}
    assert by_version[1]["framework"] == "sklearn"
    assert by_version[2]["framework"] == "xgboost"
    for v, meta in by_version.items():
        assert [f["name"] for f in meta["features"]] == feature_names(v)
        assert 0.5 < meta["metrics"]["roc_auc"] <= 1.0
        assert meta["trained_at"][:2] == "20"
    assert api.get("/v1/models/nope").status_code == 404


@pytest.mark.points(2)
def test_prometheus_metrics(api, record_v2):
    def scrape() -> str:
        r = api.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        return r.text

    def value(text: str, prefix: str) -> float:
        lines = [ln for ln in text.splitlines() if ln.startswith(prefix)]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    before = scrape()
    api.post("/v2/churn/predict", json={"instances": [record_v2, record_v2, record_v2]})
    after = scrape()
    rows = 'lab1_predictions_total{model="churn",version="2"}'
    assert value(after, rows) - value(before, rows) >= 3
    assert 'lab1_http_requests_total{method="POST",route="/v2/churn/predict",status="200"}' in after
    assert 'lab1_http_request_duration_seconds_bucket{le="0.005",method="POST"' in after
    assert 'lab1_model_load_seconds{model="churn",version="1"}' in after
    assert 'lab1_model_load_seconds{model="churn",version="2"}' in after


@pytest.mark.points(1)
def test_server_timing_splits_model_and_app_time(api, record_v2):
    r = api.post("/v2/churn/predict", json=record_v2)
    timings = dict(
        m.strip().split(";dur=") for m in r.headers["server-timing"].split(",") if ";dur=" in m
    )
    assert {"app"} <= set(timings) and ({"model", "batch"} & set(timings))
    model = float(timings.get("model", timings.get("batch")))
    assert 0 < model <= float(timings["app"])
