"""The three execution variants give identical answers; only *how* they run differs."""

from __future__ import annotations

import inspect

import pytest

from course_models.artifacts import load_artifact
from course_models.tabular import predict_proba, records_to_frame

MODES = ["blocking", "threadpool", "batched"]


@pytest.mark.points(2)
@pytest.mark.parametrize("mode", MODES)
def test_predict_mode_setting(serve_app, trained_artifacts, record_v2, mode):
    model = load_artifact("churn", 2, trained_artifacts).model
    expected = float(predict_proba(model, records_to_frame([record_v2], 2), 2)[0])
    with serve_app(artifacts_dir=trained_artifacts, predict_mode=mode) as client:
        for path in ("/v2/churn/predict", "/predict", f"/lab/{mode}/predict"):
            r = client.post(path, json=record_v2)
            assert r.status_code == 200, (path, r.text)
            assert r.json()["predictions"][0]["churn_probability"] == pytest.approx(expected)
        endpoint = _endpoint(client.app, "/v2/churn/predict")
        # blocking and batched are coroutines; threadpool is a plain def FastAPI runs in threads.
        assert inspect.iscoroutinefunction(endpoint) == (mode != "threadpool")


@pytest.mark.points(1)
def test_variant_routes_agree(app_client, record_v2):
    answers = {
        m: app_client.post(f"/lab/{m}/predict", json={"instances": [record_v2] * 3}).json()
        for m in MODES
    }
    probs = {m: [p["churn_probability"] for p in a["predictions"]] for m, a in answers.items()}
    assert probs["blocking"] == probs["threadpool"] == probs["batched"]


@pytest.mark.points(1)
def test_batched_mode_batches_concurrent_requests(serve_app, trained_artifacts, record_v2):
    from concurrent.futures import ThreadPoolExecutor

    with serve_app(
        artifacts_dir=trained_artifacts, predict_mode="batched", batch_max_wait_ms=50
    ) as client:
        with ThreadPoolExecutor(8) as pool:
            codes = list(
                pool.map(lambda _: client.post("/predict", json=record_v2).status_code, range(16))
            )
        assert codes == [200] * 16
        stats = client.app.state.runtime.batchers[2].stats
        assert stats.items == 16
        assert stats.calls < 16


def _endpoint(app, path):
    for route in app.routes:
        if getattr(route, "path", None) == path:
            return route.endpoint
    raise AssertionError(f"no route {path}")
