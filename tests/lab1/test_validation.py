"""Task 1.2: validation errors that name the field. Bad input is a 4xx JSON that names the field,
never a 5xx and never a silent coercion (checked over HTTP, so any correct handler scores)."""

from __future__ import annotations

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


@pytest.mark.task("1.2")
@pytest.mark.points(0.5)
@pytest.mark.parametrize("case", list(CASES))
def test_invalid_instance_is_422_naming_the_field(api, record_v1, case):
    mutate, field, err_type = CASES[case]
    r = api.post(PREDICT, json=mutate(record_v1))
    assert r.status_code == 422, r.text
    assert field in fields_named(r)
    if err_type:
        assert err_type in [e["type"] for e in r.json()["detail"] if e["field"] == field]
    assert all(e["msg"] for e in r.json()["detail"])


@pytest.mark.task("1.2")
@pytest.mark.points(1)
def test_whole_number_float_is_an_integer(api, record_v1):
    """JSON Schema's "integer" includes 34.0; 34.5 and "34" are still refused (above)."""
    r = api.post(PREDICT, json=dict(record_v1, age=34.0))
    assert r.status_code == 200, r.text
    same = api.post(PREDICT, json=record_v1).json()["predictions"]
    assert r.json()["predictions"] == same


@pytest.mark.task("1.2")
@pytest.mark.points(1)
def test_error_inside_a_batch_names_the_instance(api, record_v1):
    r = api.post(PREDICT, json={"instances": [record_v1, dict(record_v1, age=7)]})
    assert r.status_code == 422
    assert fields_named(r) == ["instances.1.age"]


@pytest.mark.task("1.2")
@pytest.mark.points(1)
def test_empty_batch(api, record_v1):
    """A batch holds one instance or more: [] is a 422 naming it, a batch of one is scored."""
    r = api.post(PREDICT, json={"instances": []})
    assert r.status_code == 422
    assert fields_named(r) == ["instances"]
    one = api.post(PREDICT, json={"instances": [record_v1]})
    assert one.status_code == 200, one.text
    assert len(one.json()["predictions"]) == 1


def _max_batch(api) -> int:
    schema = api.get("/openapi.json").json()["components"]["schemas"]["ChurnBatchV1"]
    return schema["properties"]["instances"]["maxItems"]


@pytest.mark.task("1.2")
@pytest.mark.points(1)
def test_oversized_batch(api, record_v1):
    limit = _max_batch(api)
    assert api.post(PREDICT, json={"instances": [record_v1] * limit}).status_code == 200
    r = api.post(PREDICT, json={"instances": [record_v1] * (limit + 1)})
    assert r.status_code == 422, r.text
    assert fields_named(r) == ["instances"]
    assert r.json()["detail"][0]["type"] == "too_long"


@pytest.mark.task("1.2")
@pytest.mark.points(1)
def test_v1_rejects_the_v2_only_field(api, record_v1):
    r = api.post(PREDICT, json=dict(record_v1, satisfaction_score=3.0))
    assert r.status_code == 422
    assert "satisfaction_score" in fields_named(r)


@pytest.mark.task("1.2")
@pytest.mark.points(1)
def test_v2_optional_field_has_bounds(api, record_v1):
    ok = api.post("/v2/churn/predict", json=dict(record_v1, satisfaction_score=None))
    assert ok.status_code == 200, ok.text
    r = api.post("/v2/churn/predict", json=dict(record_v1, satisfaction_score=9.0))
    assert r.status_code == 422
    assert fields_named(r) == ["satisfaction_score"]
