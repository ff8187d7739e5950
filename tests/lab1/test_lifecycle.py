"""Task 1.1: models load once at start-up; /ready says whether every version can answer.

Broken artifacts: /ready is 503 with a reason code and a message that is safe for clients (no
file paths, no checksums: those go to the log), /health stays 200, nothing crashes, and a
version that failed to load is never served while the good one keeps serving.
"""

from __future__ import annotations

import json
import logging
import re
import warnings

import joblib
import numpy as np
import pytest

from course_models.artifacts import METADATA_FILE, save_metadata, sha256_file
from course_models.datasets import make_churn
from course_models.schema import feature_names

# What a client must never read in an error: absolute paths and hex digests (or their prefixes).
LEAKS = re.compile(r"(/[\w.-]+){2,}|[0-9a-f]{10,}")


def _break(root, version: int, how: str) -> None:
    directory = root / "churn" / str(version)
    meta_path = directory / "metadata.json"
    model = directory / "model.joblib"
    if how == "missing":
        for f in directory.iterdir():
            f.unlink()
        directory.rmdir()
    elif how == "corrupt":
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    elif how == "version_mismatch":
        meta = json.loads(meta_path.read_text())
        meta["libraries"]["sklearn"] = "0.0.1"
        meta_path.write_text(json.dumps(meta))
    elif how == "undeserialisable":
        # Right checksum, wrong bytes: the loader must still refuse, not crash the app.
        model.write_bytes(b"this is not a pickle")
        meta = json.loads(meta_path.read_text())
        meta["sha256"] = sha256_file(model)
        meta_path.write_text(json.dumps(meta))
    elif how == "scorer_mismatch":
        _retrain_with_unknown_step(directory)


def _retrain_with_unknown_step(directory) -> None:
    """A correctly signed pipeline whose numeric step the fast scorer cannot compile.

    The file is intact and the libraries match, so only the loader's fast-vs-pipeline check
    (``ScorerMismatch``) can refuse it, as it refuses a compiled path that drifts.
    """
    from sklearn.preprocessing import MinMaxScaler

    pipeline = joblib.load(directory / "model.joblib")
    pre = pipeline.steps[0][1]
    name, _, cols = pre.transformers_[0]
    pre.transformers_[0] = (name, MinMaxScaler().fit(make_churn(500, seed=3)[cols]), cols)
    joblib.dump(pipeline, directory / "model.joblib")
    meta = json.loads((directory / METADATA_FILE).read_text())
    keep = {
        k: v
        for k, v in meta.items()
        if k not in ("model_file", "framework", "sha256", "libraries", "created_at", "python")
    }
    save_metadata(directory, "model.joblib", meta["framework"], **keep)


@pytest.mark.points(0)
def test_health_is_ok(api):
    r = api.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.task("1.1")
@pytest.mark.points(2)
def test_ready_lists_loaded_versions(api):
    r = api.get("/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["errors"] == []
    assert {1, 2} <= set(body["loaded"])


@pytest.mark.task("1.1")
@pytest.mark.points(1)
@pytest.mark.parametrize(
    "how,reason",
    [
        ("missing", "not_found"),
        ("corrupt", "corrupt"),
        ("version_mismatch", "version_mismatch"),
        ("undeserialisable", "corrupt"),
        ("scorer_mismatch", "scorer_mismatch"),
    ],
)
def test_broken_v2_is_not_ready_and_not_served(serve_app, artifacts_copy, record_v1, how, reason):
    _break(artifacts_copy, 2, how)
    with serve_app(artifacts_dir=artifacts_copy) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        body = ready.json()
        [err] = body["errors"]
        assert err["version"] == 2 and err["reason"] == reason and err["message"]
        # The broken version answers 503 with the same reason; the good one keeps serving.
        r2 = client.post("/v2/churn/predict", json=record_v1)
        assert r2.status_code == 503
        assert r2.json()["detail"]["reason"] == reason
        for mode in ("blocking", "threadpool", "batched"):
            assert client.post(f"/lab/{mode}/predict", json=record_v1).status_code == 503
        assert client.post("/v1/churn/predict", json=record_v1).status_code == 200


@pytest.mark.task("1.1")
@pytest.mark.points(1)
@pytest.mark.parametrize("how", ["missing", "corrupt", "version_mismatch"])
def test_not_ready_answers_leak_no_paths_or_checksums(serve_app, artifacts_copy, record_v1, how):
    """The reason code and a safe message for clients, never the server's files."""
    _break(artifacts_copy, 2, how)
    with serve_app(artifacts_dir=artifacts_copy) as client:
        for r in (client.get("/ready"), client.post("/v2/churn/predict", json=record_v1)):
            assert r.status_code == 503
            assert str(artifacts_copy) not in r.text
            assert not LEAKS.search(r.text), r.text


@pytest.mark.points(0)
def test_load_errors_are_logged_with_their_detail(serve_app, artifacts_copy, caplog):
    """The detail the client does not get (paths, checksums) is in the server log."""
    _break(artifacts_copy, 2, "corrupt")
    with (
        caplog.at_level(logging.ERROR, logger="lab1_fastapi"),
        serve_app(artifacts_dir=artifacts_copy) as client,
    ):
        assert client.get("/ready").status_code == 503
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "model.joblib" in logged and "sha256" in logged


@pytest.mark.task("1.1")
@pytest.mark.points(2)
def test_no_artifacts_at_all(serve_app, tmp_path, record_v1):
    with serve_app(artifacts_dir=tmp_path / "empty") as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert {e["reason"] for e in ready.json()["errors"]} == {"not_found"}
        assert "make train" in ready.json()["errors"][0]["message"]
        assert client.post("/predict", json=record_v1).status_code == 503


@pytest.mark.task("1.1")
@pytest.mark.points(1)
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


@pytest.mark.points(0)
def test_models_are_released_at_shutdown(serve_app, trained_artifacts):
    with serve_app(artifacts_dir=trained_artifacts) as client:
        runtime = client.app.state.runtime
        assert set(runtime.registry.models) == {1, 2}
        assert set(runtime.batchers) == {1, 2}
    assert runtime.registry.models == {}
    assert runtime.batchers == {}


@pytest.mark.points(0)
def test_metrics_report_load_state(api):
    metrics = api.get("/metrics").text
    for v in (1, 2):
        assert f'lab1_model_load_seconds{{model="churn",version="{v}"}}' in metrics
        assert f'lab1_model_ready{{model="churn",version="{v}"}} 1.0' in metrics


@pytest.mark.points(0)
def test_fast_and_pipeline_scoring_agree(trained_artifacts):
    """LAB1_SCORING=pipeline is the slow path to compare with, not a different model."""
    from course_models.artifacts import load_artifact
    from course_models.scoring import TOLERANCE, reference_records
    from lab1_fastapi.model import build_scorer

    for version in (1, 2):
        artifact = load_artifact("churn", version, trained_artifacts)
        records = reference_records(version, 64)
        fast = build_scorer(artifact, "fast")(records)
        with warnings.catch_warnings():  # the sample's unknown categories are on purpose
            warnings.simplefilter("ignore", UserWarning)
            slow = build_scorer(artifact, "pipeline")(records)
        assert fast.shape == (64,)
        if version == 2:  # trees: bit for bit
            assert (fast == slow).all()
        else:  # fixed-order row sums vs the pipeline's BLAS: within the load check's bound
            assert np.abs(fast - slow).max() <= TOLERANCE
