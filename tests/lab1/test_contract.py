"""The v1 contract: the v1 part of the OpenAPI document equals the committed snapshot.

If this fails you changed what v1 consumers see. Put the change in v2 instead, or, if it
really is intended and compatible, refresh the snapshot: `make contract-1 CONTRACT_ARGS=--write`.
"""

from __future__ import annotations

import difflib

import pytest

from lab1_fastapi.contract import SNAPSHOT, dumps, load_snapshot, v1_contract


@pytest.mark.points(3)
def test_v1_openapi_matches_snapshot(api):
    current = dumps(v1_contract(api.get("/openapi.json").json()))
    committed = SNAPSHOT.read_text()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(True), current.splitlines(True), "snapshot", "served", n=2
        )
    )
    assert current == committed, f"v1 contract changed:\n{diff[:4000]}"


@pytest.mark.points(1)
def test_snapshot_covers_the_v1_surface():
    snap = load_snapshot()
    assert set(snap["paths"]) == {"/v1/churn/predict", "/v1/models", "/v1/models/{model}"}
    schemas = snap["components"]["schemas"]
    instance = schemas["ChurnInstanceV1"]
    assert instance["additionalProperties"] is False
    assert "satisfaction_score" not in instance["properties"]
    assert set(schemas["PredictionV1"]["properties"]) == {"churn_probability", "label"}
    assert snap["paths"]["/v1/churn/predict"]["post"]["deprecated"] is True


@pytest.mark.points(1)
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
