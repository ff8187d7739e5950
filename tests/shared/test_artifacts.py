import json
import shutil

import numpy as np
import pytest

from course_models.artifacts import (
    ArtifactCorrupt,
    ArtifactNotFound,
    ArtifactVersionMismatch,
    latest_version,
    load_artifact,
    verify_artifact,
)
from course_models.datasets import make_churn
from course_models.tabular import example_record, predict_proba, records_to_frame
from course_models.train import select, train_one


def copy_of(churn_root, tmp_path):
    root = tmp_path / "artifacts"
    shutil.copytree(churn_root, root)
    return root


def test_metadata_has_what_serving_needs(churn_root):
    meta = json.loads((churn_root / "churn" / "2" / "metadata.json").read_text())
    for key in (
        "name",
        "version",
        "created_at",
        "feature_schema",
        "metrics",
        "training_data",
        "libraries",
        "sha256",
        "model_file",
    ):
        assert key in meta, key
    assert meta["framework"] == "xgboost" and "xgboost" in meta["libraries"]
    assert [f["name"] for f in meta["feature_schema"]][-1] == "satisfaction_score"
    assert meta["metrics"]["roc_auc"] > 0.75
    assert latest_version("churn", churn_root) == 2


def test_training_is_deterministic(churn_root, tmp_path):
    again = tmp_path / "again"
    train_one(select(["churn/1"])[0], again, seed=42)
    a = json.loads((churn_root / "churn/1/metadata.json").read_text())
    b = json.loads((again / "churn/1/metadata.json").read_text())
    assert a["training_data"]["sha256"] == b["training_data"]["sha256"]
    assert a["metrics"] == b["metrics"]
    rows = make_churn(200, start=90_000)
    p1 = predict_proba(load_artifact("churn", 1, churn_root).model, rows, 1)
    p2 = predict_proba(load_artifact("churn", 1, again).model, rows, 1)
    np.testing.assert_array_equal(p1, p2)


def test_v2_accepts_records_without_the_optional_feature(churn_root):
    model = load_artifact("churn", 2, churn_root).model
    with_score = predict_proba(model, records_to_frame([example_record(2)], 2), 2)
    without = predict_proba(model, records_to_frame([example_record(1)], 2), 2)
    assert 0 < without[0] < 1 and with_score[0] != without[0]


def test_missing_artifact_is_refused_with_its_path(tmp_path):
    with pytest.raises(ArtifactNotFound, match="make train"):
        load_artifact("churn", 1, tmp_path)


def test_corrupt_model_file_is_refused(churn_root, tmp_path):
    root = copy_of(churn_root, tmp_path)
    model_file = root / "churn/1/model.joblib"
    model_file.write_bytes(model_file.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ArtifactCorrupt, match=r"model\.joblib is corrupt: sha256"):
        verify_artifact("churn", 1, root)


def test_wrong_library_version_is_refused(churn_root, tmp_path):
    root = copy_of(churn_root, tmp_path)
    meta_path = root / "churn/2/metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["libraries"]["xgboost"] = "0.90.0"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactVersionMismatch, match=r"xgboost trained with 0\.90\.0"):
        load_artifact("churn", 2, root)
    assert load_artifact("churn", 2, root, check_versions=False).version == 2


def test_unreadable_metadata_is_corrupt(churn_root, tmp_path):
    root = copy_of(churn_root, tmp_path)
    (root / "churn/1/metadata.json").write_text("{not json")
    with pytest.raises(ArtifactCorrupt, match=r"metadata\.json is not valid JSON"):
        verify_artifact("churn", 1, root)
