"""Task 1.3: a v2 route beside v1, and v1 consumers see exactly what they saw before:
the same bytes, the same OpenAPI contract, plus headers telling them where to move."""

from __future__ import annotations

import difflib
import json

import pytest

from course_models.schema import feature_names
from lab1_fastapi.contract import SNAPSHOT, dumps, load_snapshot, v1_contract

V1_KEYS = ["model", "version", "request_id", "predictions"]


@pytest.mark.task("1.3")
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


@pytest.mark.task("1.3")
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


@pytest.mark.task("1.3")
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


@pytest.mark.task("1.3")
@pytest.mark.points(2)
def test_v1_openapi_matches_snapshot(api):
    current = dumps(v1_contract(api.get("/openapi.json").json()))
    committed = SNAPSHOT.read_text()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(True), current.splitlines(True), "snapshot", "served", n=2
        )
    )
    assert current == committed, f"v1 contract changed:\n{diff[:4000]}"


@pytest.mark.task("1.3")
@pytest.mark.points(1)
def test_v1_route_announces_deprecation(api, record_v1):
    old = api.post("/v1/churn/predict", json=record_v1)
    new = api.post("/v2/churn/predict", json=record_v1)
    assert old.status_code == new.status_code == 200, (old.text, new.text)
    assert old.headers["deprecation"].startswith("@")
    assert "sunset" in old.headers
    assert 'rel="successor-version"' in old.headers["link"]
    assert "/v2/churn/predict" in old.headers["link"]
    assert "deprecation" not in new.headers


@pytest.mark.task("1.3")
@pytest.mark.points(1)
def test_default_predict_uses_configured_default(api, record_v2):
    default = api.get("/v1/models/churn").json()["default_version"]
    body = record_v2 if default >= 2 else {k: record_v2[k] for k in feature_names(1)}
    r = api.post("/predict", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == default


@pytest.mark.task("1.3")
@pytest.mark.points(1)
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
    preds = batch.json()["predictions"]
    singles = [api.post("/v2/churn/predict", json=r).json()["predictions"][0] for r in records]
    assert [p["churn_probability"] for p in preds] == pytest.approx(
        [p["churn_probability"] for p in singles], abs=1e-9
    )
    assert (
        len({p["churn_probability"] for p in preds}) > 1
    )  # the inputs differ, so must the answers


@pytest.mark.points(0)
def test_snapshot_covers_the_v1_surface():
    snap = load_snapshot()
    assert set(snap["paths"]) == {"/v1/churn/predict", "/v1/models", "/v1/models/{model}"}
    schemas = snap["components"]["schemas"]
    instance = schemas["ChurnInstanceV1"]
    assert instance["additionalProperties"] is False
    assert "satisfaction_score" not in instance["properties"]
    assert set(schemas["PredictionV1"]["properties"]) == {"churn_probability", "label"}
    assert snap["paths"]["/v1/churn/predict"]["post"]["deprecated"] is True


@pytest.mark.points(0)
def test_contract_check_catches_a_breaking_change(app_client):
    """The checker itself: renaming a v1 field must show up as a difference."""
    doc = app_client.get("/openapi.json").json()
    props = doc["components"]["schemas"]["ChurnInstanceV1"]["properties"]
    props["tenure"] = props.pop("tenure_months")
    assert v1_contract(doc) != load_snapshot()
    # ... while a v2-only change does not touch the v1 contract.
    doc = app_client.get("/openapi.json").json()
    doc["components"]["schemas"]["ChurnInstanceV2"]["properties"].pop("satisfaction_score")
    assert v1_contract(doc) == load_snapshot()
