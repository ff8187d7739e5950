"""Bad input is a 4xx JSON that names the field, never a 500 and never a silent coercion."""

from __future__ import annotations

import json

import pytest

PREDICT = "/v1/churn/predict"


def fields_named(response) -> list[str]:
    return [err["field"] for err in response.json()["detail"]]


def _without(record: dict, key: str) -> dict:
    return {k: v for k, v in record.items() if k != key}


CASES = {
    "missing field": (lambda r: _without(r, "age"), "age", "missing"),
    "wrong type": (lambda r: dict(r, tenure_months="five"), "tenure_months", "int_type"),
    "number as string": (lambda r: dict(r, monthly_charges="89.5"), "monthly_charges", None),
    "float for an int": (lambda r: dict(r, support_calls=2.5), "support_calls", None),
    "bool as string": (lambda r: dict(r, has_partner="yes"), "has_partner", "bool_type"),
    "below minimum": (lambda r: dict(r, tenure_months=-1), "tenure_months", "greater_than_equal"),
    "above maximum": (lambda r: dict(r, age=130), "age", "less_than_equal"),
    "unknown category": (lambda r: dict(r, contract="weekly"), "contract", "enum"),
    "extra field": (
        lambda r: dict(r, favourite_colour="red"),
        "favourite_colour",
        "extra_forbidden",
    ),
    "null required": (lambda r: dict(r, age=None), "age", None),
}


@pytest.mark.points(1)
@pytest.mark.parametrize("case", list(CASES))
def test_invalid_instance_is_422_naming_the_field(api, record_v1, case):
    mutate, field, err_type = CASES[case]
    r = api.post(PREDICT, json=mutate(record_v1))
    assert r.status_code == 422, r.text
    assert field in fields_named(r)
    if err_type:
        assert err_type in [e["type"] for e in r.json()["detail"] if e["field"] == field]
    assert all(e["msg"] for e in r.json()["detail"])


@pytest.mark.points(1)
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_inf_are_rejected(api, record_v1, literal):
    # Python's json (and FastAPI) accept these non-standard literals, so the model must refuse them.
    body = json.dumps(dict(record_v1, monthly_charges="PLACEHOLDER")).replace(
        '"PLACEHOLDER"', literal
    )
    r = api.post(PREDICT, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "monthly_charges" in fields_named(r)


@pytest.mark.points(1)
def test_nan_in_v2_optional_field_is_rejected(api, record_v1):
    body = json.dumps(dict(record_v1, satisfaction_score="X")).replace('"X"', "NaN")
    r = api.post("/v2/churn/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "satisfaction_score" in fields_named(r)


@pytest.mark.points(1)
def test_error_inside_a_batch_names_the_instance(api, record_v1):
    r = api.post(PREDICT, json={"instances": [record_v1, dict(record_v1, age=7)]})
    assert r.status_code == 422
    assert fields_named(r) == ["instances.1.age"]


@pytest.mark.points(1)
def test_empty_batch(api):
    r = api.post(PREDICT, json={"instances": []})
    assert r.status_code == 422
    assert fields_named(r) == ["instances"]


def _max_batch(api) -> int:
    schema = api.get("/openapi.json").json()["components"]["schemas"]["ChurnBatchV1"]
    return schema["properties"]["instances"]["maxItems"]


@pytest.mark.points(1)
def test_oversized_batch(api, record_v1):
    limit = _max_batch(api)
    assert api.post(PREDICT, json={"instances": [record_v1] * limit}).status_code == 200
    r = api.post(PREDICT, json={"instances": [record_v1] * (limit + 1)})
    assert r.status_code == 422, r.text
    assert fields_named(r) == ["instances"]
    assert r.json()["detail"][0]["type"] == "too_long"


@pytest.mark.points(1)
def test_oversized_body_is_413(api):
    big = b'{"instances": [' + b" " * (2 * 1024 * 1024) + b"]}"
    r = api.post(PREDICT, content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert fields_named(r) == ["body"]
    assert r.json()["detail"][0]["type"] == "body_too_large"


@pytest.mark.points(1)
def test_oversized_chunked_body_is_413(app_client):
    """No Content-Length (chunked upload): the limit is enforced while reading."""

    def chunks():
        yield b'{"instances": ['
        for _ in range(100):
            yield b" " * 1024
        yield b"]}"

    r = app_client.post(PREDICT, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert fields_named(r) == ["body"]


@pytest.mark.points(1)
@pytest.mark.parametrize(
    "raw", [b"[1, 2]", b'"text"', b"{not json", b""], ids=["list", "string", "malformed", "empty"]
)
def test_not_an_object_body(api, raw):
    r = api.post(PREDICT, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"]


@pytest.mark.points(1)
def test_undecodable_body_is_400_naming_the_body(api):
    r = api.post(PREDICT, content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert fields_named(r) == ["body"]
