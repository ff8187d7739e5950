"""Flask test-client checks: routes, errors, JSON, the model paths. No processes started.

They probe the reference implementation in-process, so they carry no points (the graded
specifications are in test_spec.py and go through HTTP)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from course_models.datasets import make_churn
from lab2_flask_celery.app import create_app
from lab2_flask_celery.jsonio import to_jsonable
from lab2_flask_celery.model import get_model
from lab2_flask_celery.settings import Settings


@pytest.mark.points(0)
def test_health_and_ready(client):
    health = client.get("/health")
    assert health.status_code == 200 and health.json["status"] == "ok"
    assert isinstance(health.json["pid"], int)
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json["model"]["version"] == 2 and ready.json["model"]["framework"] == "xgboost"


@pytest.mark.points(0)
def test_predict_single_and_batch_agree(client, record):
    single = client.post("/predict", json=record)
    assert single.status_code == 200, single.json
    p = single.json["prediction"]["churn_probability"]
    assert isinstance(p, float) and 0.0 <= p <= 1.0
    assert single.json["prediction"]["label"] == ("churns" if p >= 0.5 else "stays")
    other = {**record, "contract": "two-year", "tenure_months": 60, "satisfaction_score": None}
    batch = client.post("/predict", json={"records": [record, other]})
    assert batch.status_code == 200, batch.json
    assert batch.json["count"] == 2
    probs = [x["churn_probability"] for x in batch.json["predictions"]]
    assert probs[0] == pytest.approx(p, abs=1e-9)
    assert probs[1] < probs[0]  # long tenure, two-year contract: less churn


@pytest.mark.points(0)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"age": 7}, "age"),
        ({"contract": "weekly"}, "contract"),
        ({"tenure_months": "five"}, "tenure_months"),
        ({"tenure_months": 2.5}, "tenure_months"),
        ({"paperless_billing": "yes"}, "paperless_billing"),
        ({"monthly_charges": True}, "monthly_charges"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_values_name_the_field(client, record, change, field):
    response = client.post("/predict", json={**record, **change})
    assert response.status_code == 422
    assert response.is_json and response.json["error"] == "validation_error"
    assert [d["field"] for d in response.json["details"]] == [field]


@pytest.mark.points(0)
def test_missing_field_in_batch_is_located(client, record):
    broken = {k: v for k, v in record.items() if k != "support_calls"}
    response = client.post("/predict", json={"records": [record, broken]})
    assert response.status_code == 422
    assert [(d["field"], d["type"]) for d in response.json["details"]] == [
        ("records[1].support_calls", "missing")
    ]


@pytest.mark.points(0)
def test_http_errors_are_json_never_html(client, record):
    cases = [
        (client.post("/predict", data="{not json", content_type="application/json"), 400),
        (client.post("/predict", data="age=3", content_type="text/plain"), 415),
        (client.post("/predict", data=b"[" * 2_000_000, content_type="application/json"), 413),
        (client.post("/predict", json={"records": []}), 422),
        (client.post("/predict", json={"records": [record] * 257}), 422),
        (client.post("/predict", json=[1, 2]), 422),
        (client.get("/predict"), 405),
        (client.get("/no/such/route"), 404),
        (client.get("/jobs/not-a-uuid"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, (status, response.data[:200])
        assert response.mimetype == "application/json"
        assert set(response.json) >= {"error", "message"}


@pytest.mark.points(0)
def test_unexpected_error_is_a_json_500(app, monkeypatch, record):
    def boom(*_a, **_k):
        raise ZeroDivisionError("model exploded")

    monkeypatch.setattr("lab2_flask_celery.model.ChurnModel.predict", boom)
    response = app.test_client().post("/predict", json=record)
    assert response.status_code == 500 and response.is_json
    assert "ZeroDivisionError" in response.json["message"]


@pytest.mark.points(0)
def test_numpy_values_serialise_to_strict_json(app):
    payload = {
        "f32": np.float32(0.25),
        "f64": np.float64(1.5),
        "i64": np.int64(7),
        "nan": float("nan"),
        "np_nan": np.float64("nan"),
        "inf": np.inf,
        "arr": np.array([1.0, np.nan]),
        "big": 2**63 - 1,
        "np_big": np.uint64(2**64 - 1),
        "flag": np.bool_(True),
    }
    text = app.json.dumps(payload)
    # json.loads with a hook that rejects NaN/Infinity tokens: the document is strict JSON.
    decoded = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON token {c}"))
    assert decoded == {
        "f32": 0.25,
        "f64": 1.5,
        "i64": 7,
        "nan": None,
        "np_nan": None,
        "inf": None,
        "arr": [1.0, None],
        "big": str(2**63 - 1),
        "np_big": str(2**64 - 1),
        "flag": True,
    }
    assert to_jsonable((np.int32(2**31 - 1), 2**53 - 1)) == [2**31 - 1, 2**53 - 1]


@pytest.mark.points(0)
def test_predict_response_values_are_python_floats(client, record):
    body = json.loads(client.post("/predict", json=record).data)
    p = body["prediction"]["churn_probability"]
    assert type(p) is float and math.isfinite(p)


@pytest.mark.points(0)
def test_python_scorer_matches_xgboost(trained_artifacts):
    """The pure-Python tree walk used by /explain gives XGBoost's own probabilities."""
    for version in (1, 2):
        model = get_model(version=version, background=4)
        rows = make_churn(300, seed=11).to_dict("records")
        expected = model.predict(rows)
        assert np.abs(np.asarray(model.python_proba(rows)) - expected).max() < 1e-6


@pytest.mark.points(0)
def test_explain_contributions_add_up(client, record):
    response = client.post("/explain", json=record)
    assert response.status_code == 200, response.json
    body = response.json
    assert set(body["contributions"]) == set(record)
    total = sum(body["contributions"].values())
    assert total == pytest.approx(body["prediction"] - body["base_value"], abs=1e-9)
    predicted = client.post("/predict", json=record).json["prediction"]["churn_probability"]
    assert body["prediction"] == pytest.approx(predicted, abs=1e-6)
    # Deterministic: a second call gives the same numbers (the seed is a setting).
    assert client.post("/explain", json=record).json["contributions"] == body["contributions"]


@pytest.mark.points(0)
def test_explain_validates_too(client, record):
    response = client.post("/explain", json={**record, "satisfaction_score": 9})
    assert response.status_code == 422
    assert response.json["details"][0]["field"] == "satisfaction_score"


@pytest.mark.points(0)
def test_deadline_guard_answers_504(trained_artifacts, record):
    app = create_app({"timeout": 1, "deadline_fraction": 0.1, "explain_permutations": 5000})
    response = app.test_client().post("/explain", json=record)
    assert response.status_code == 504
    assert response.json["error"] == "deadline_exceeded"
    assert "/jobs/explain" in response.json["message"]


@pytest.mark.points(0)
def test_queue_down_gives_503_not_a_hang(client, record):
    """The app's Redis URL points at a port nobody listens on."""
    response = client.post("/jobs/explain", json=record)
    assert response.status_code == 503 and response.json["error"] == "queue_unavailable"
    status = client.get("/jobs/6f1c3f0e-5d4e-4a43-9d61-0d1f0c1a2b3c")
    assert status.status_code == 503 and status.json["error"] == "queue_unavailable"


@pytest.mark.points(0)
def test_missing_artifact_is_503_on_ready_and_predict(tmp_path, record):
    app = create_app({"artifacts_dir": str(tmp_path)})
    client = app.test_client()
    assert client.get("/health").status_code == 200
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json["model"]["reason"] == "not_found"
    response = client.post("/predict", json=record)
    assert response.status_code == 503 and response.json["error"] == "model_unavailable"


@pytest.mark.points(0)
@pytest.mark.parametrize("variant", ["load_per_request", "global_lock"])
def test_broken_variants_still_answer_correctly(trained_artifacts, record, variant):
    """The broken variants are slow or serialised, not wrong: that is what makes them subtle."""
    good = create_app({"explain_permutations": 2, "explain_background": 2}).test_client()
    bad = create_app(
        {"variant": variant, "explain_permutations": 2, "explain_background": 2}
    ).test_client()
    assert bad.get("/ready").status_code == 200
    assert bad.post("/predict", json=record).json == good.post("/predict", json=record).json
    assert (
        bad.post("/explain", json=record).json["contributions"]
        == (good.post("/explain", json=record).json["contributions"])
    )


@pytest.mark.points(0)
def test_settings_come_from_lab2_env(monkeypatch):
    monkeypatch.setenv("LAB2_WORKERS", "3")
    monkeypatch.setenv("LAB2_VARIANT", "short_timeout")
    s = Settings()
    assert s.workers == 3
    assert s.gunicorn_options() == {
        "workers": 3,
        "worker_class": "sync",
        "threads": 1,
        "timeout": 2,
    }
    assert s.request_budget() == pytest.approx(1.2)
    monkeypatch.setenv("LAB2_VARIANT", "single_sync_worker")
    assert Settings().gunicorn_options()["workers"] == 1
