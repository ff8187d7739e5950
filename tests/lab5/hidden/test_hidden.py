"""Instructor-only checks (absent from the student edition)."""

from __future__ import annotations

import pytest

from course_models.tabular import example_record


@pytest.mark.task("5.1")
@pytest.mark.points(1)
def test_split_does_not_depend_on_the_features_only_on_the_customer(lab5_service):
    """Stickiness is per customer: changing a feature must not move a customer to another arm."""
    with lab5_service.client() as http:
        for i in range(40):
            entity = f"hidden-{i}"
            a = http.post("/predict", json={"entity_id": entity, "features": example_record(2)})
            changed = dict(example_record(2), tenure_months=(i % 70) + 1)
            b = http.post("/predict", json={"entity_id": entity, "features": changed})
            assert a.json()["model_version"] == b.json()["model_version"]


@pytest.mark.task("5.2")
@pytest.mark.points(1)
def test_unknown_tenant_does_not_evict_a_loaded_one(lab5_service):
    with lab5_service.client() as http:
        body = {"entity_id": "h", "features": example_record(2)}
        assert http.post("/tenants/globex/predict", json=body).status_code == 200
        assert http.post("/tenants/nobody-here/predict", json=body).status_code == 404
        assert "globex" in http.get("/models").json()["tenants_loaded"]
