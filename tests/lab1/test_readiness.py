"""Broken artifacts: /ready says why (503 + JSON reason), /health stays 200, nothing crashes,
and a version that failed to load is never served."""

from __future__ import annotations

import json

import pytest


def _break(root, version: int, how: str) -> None:
    directory = root / "churn" / str(version)
    if how == "missing":
        for f in directory.iterdir():
            f.unlink()
        directory.rmdir()
    elif how == "corrupt":
        model = directory / "model.joblib"
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    elif how == "version_mismatch":
        meta_path = directory / "metadata.json"
        meta = json.loads(meta_path.read_text())
        meta["libraries"]["sklearn"] = "0.0.1"
        meta_path.write_text(json.dumps(meta))
    elif how == "undeserialisable":
        # Right checksum, wrong bytes: the loader must still refuse, not crash the app.
        from course_models.artifacts import sha256_file

        model = directory / "model.joblib"
        model.write_bytes(b"this is not a pickle")
        meta_path = directory / "metadata.json"
        meta = json.loads(meta_path.read_text())
        meta["sha256"] = sha256_file(model)
        meta_path.write_text(json.dumps(meta))


@pytest.mark.points(2)
@pytest.mark.parametrize(
    "how,reason",
    [
        ("missing", "not_found"),
        ("corrupt", "corrupt"),
        ("version_mismatch", "version_mismatch"),
        ("undeserialisable", "corrupt"),
    ],
)
def test_broken_v2_is_not_ready_and_not_served(serve_app, artifacts_copy, record_v1, how, reason):
    _break(artifacts_copy, 2, how)
    with serve_app(artifacts_dir=artifacts_copy) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready"
        [err] = body["errors"]
        assert err["version"] == 2 and err["reason"] == reason and err["message"]
        # The broken version answers 503 with the same reason; the good one keeps serving.
        r2 = client.post("/v2/churn/predict", json=record_v1)
        assert r2.status_code == 503
        assert r2.json()["detail"]["reason"] == reason
        for mode in ("blocking", "threadpool", "batched"):
            assert client.post(f"/lab/{mode}/predict", json=record_v1).status_code == 503
        assert client.post("/v1/churn/predict", json=record_v1).status_code == 200
        metrics = client.get("/metrics").text
        assert 'lab1_model_ready{model="churn",version="2"} 0.0' in metrics


@pytest.mark.points(1)
def test_no_artifacts_at_all(serve_app, tmp_path, record_v1):
    with serve_app(artifacts_dir=tmp_path / "empty") as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert {e["reason"] for e in ready.json()["errors"]} == {"not_found"}
        assert "make train" in ready.json()["errors"][0]["message"]
        assert client.post("/predict", json=record_v1).status_code == 503


@pytest.mark.points(1)
def test_models_are_released_at_shutdown(serve_app, trained_artifacts):
    with serve_app(artifacts_dir=trained_artifacts) as client:
        runtime = client.app.state.runtime
        assert set(runtime.registry.models) == {1, 2}
        assert set(runtime.batchers) == {1, 2}
    assert runtime.registry.models == {}
    assert runtime.batchers == {}
