"""The compiled churn scorer equals the sklearn pipeline it was built from, or is refused."""

import warnings

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from course_models.artifacts import ArtifactError, load_artifact, save_metadata
from course_models.datasets import make_churn
from course_models.schema import feature_names, features_for_version
from course_models.scoring import (
    TOLERANCE,
    UNKNOWN_CATEGORY,
    ChurnScorer,
    ScorerMismatch,
    reference_records,
)

ROWS = 100_000


def generated_frame(version: int) -> pd.DataFrame:
    """100,000 rows with absent optionals and unknown categories sprinkled in."""
    frame = make_churn(ROWS, seed=7, start=3_000_000)[feature_names(version)].copy()
    rng = np.random.default_rng(13)
    for name in ("contract", "payment_method", "internet_service"):
        unknown = rng.random(ROWS) < 0.03
        frame[name] = frame[name].astype(object)
        frame.loc[unknown, name] = UNKNOWN_CATEGORY
    return frame


def as_records(frame: pd.DataFrame) -> list[dict]:
    """API-style dicts: optional features that are NaN are left out of the record."""
    records = frame.to_dict(orient="records")
    for record in records:
        for key in [k for k, v in record.items() if isinstance(v, float) and np.isnan(v)]:
            del record[key]
    return records


def pipeline_scores(loaded, data):
    slow = ChurnScorer.from_artifact(loaded, "pipeline")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sklearn: unknown categories found
        if isinstance(data, list):
            return slow.score_records(data)
        return slow.score_frame(data)


@pytest.mark.points(0)
@pytest.mark.slow
@pytest.mark.parametrize("version", [1, 2])
def test_fast_equals_pipeline_on_100k_rows(churn_root, version):
    loaded = load_artifact("churn", version, churn_root)
    fast = ChurnScorer.from_artifact(loaded, "fast")
    frame = generated_frame(version)
    records = as_records(frame)
    if version == 2:
        assert sum("satisfaction_score" not in r for r in records) > ROWS // 5
    assert sum(r["contract"] == UNKNOWN_CATEGORY for r in records) > ROWS // 50

    expected = pipeline_scores(loaded, frame)
    got_frame = fast.score_frame(frame)
    got_records = fast.score_records(records)
    got_arrow = fast.score_frame(pa.Table.from_pandas(frame, preserve_index=False))
    assert expected.dtype == got_frame.dtype == got_records.dtype == np.float64
    for got in (got_frame, got_records, got_arrow):
        assert got.shape == (ROWS,)
        assert np.max(np.abs(got - expected)) <= TOLERANCE
    if version == 2:  # tree traversal has no summation order to differ in: bit for bit
        assert np.array_equal(got_frame, expected) and np.array_equal(got_records, expected)
    assert np.array_equal(expected, pipeline_scores(loaded, records))


@pytest.mark.points(0)
def test_optional_feature_absent_from_a_batch_is_missing_not_an_error(churn_root):
    loaded = load_artifact("churn", 2, churn_root)
    frame = make_churn(1_000, seed=3)[feature_names(1)]  # no satisfaction_score column
    fast = ChurnScorer.from_artifact(loaded).score_frame(frame)
    assert np.array_equal(fast, pipeline_scores(loaded, frame))
    with pytest.raises(KeyError, match="tenure_months"):
        ChurnScorer.from_artifact(loaded).score_frame(frame.drop(columns=["tenure_months"]))


@pytest.mark.points(0)
@pytest.mark.parametrize("version", [1, 2])
def test_unknown_category_scores_like_an_all_zero_one_hot(churn_root, version):
    loaded = load_artifact("churn", version, churn_root)
    record = reference_records(version, 1)[0] | {"contract": UNKNOWN_CATEGORY}
    fast = ChurnScorer.from_artifact(loaded)
    x = fast._compiled.matrix(lambda col: _values([record], col), 1)
    contract = next(c for c in fast._compiled.columns if c.feature.name == "contract")
    assert not x[0, contract.start : contract.start + len(contract.index)].any()
    got, expected = fast.score_records([record])[0], pipeline_scores(loaded, [record])[0]
    # v1's fixed-order row sum may differ from the pipeline's BLAS by an ulp; trees do not sum.
    assert got == expected if version == 2 else abs(got - expected) <= TOLERANCE


def _values(records, col):
    from course_models.scoring import _record_values

    return _record_values(records, col)


@pytest.mark.points(0)
def test_loader_attaches_a_checked_scorer(churn_root):
    loaded = load_artifact("churn", 2, churn_root)
    assert isinstance(loaded.scorer, ChurnScorer) and loaded.scorer.max_abs_diff == 0.0
    assert ChurnScorer.from_artifact(loaded) is loaded.scorer
    assert ChurnScorer.from_artifact(loaded, "pipeline").mode == "pipeline"
    assert ChurnScorer.from_artifact(loaded).score_records([]).shape == (0,)


@pytest.mark.points(0)
def test_a_tampered_fast_scorer_is_refused(churn_root):
    loaded = load_artifact("churn", 1, churn_root)
    fast = loaded.scorer
    fast._compiled.columns[0].mean += 1e-6  # a compiled parameter drifts from the pipeline
    with pytest.raises(ScorerMismatch) as info:
        fast.verify()
    assert info.value.reason == "scorer_mismatch" and isinstance(info.value, ArtifactError)
    assert info.value.to_dict()["reason"] == "scorer_mismatch"


def _resave(root, version, mutate):
    """Change the pickled pipeline and re-sign it, so only the scorer check can catch it."""
    directory = root / "churn" / str(version)
    model = joblib.load(directory / "model.joblib")
    mutate(model)
    joblib.dump(model, directory / "model.joblib")
    meta = __import__("json").loads((directory / "metadata.json").read_text())
    keep = {k: v for k, v in meta.items() if k not in ("model_file", "framework", "sha256")}
    keep.pop("libraries"), keep.pop("created_at"), keep.pop("python")
    save_metadata(directory, "model.joblib", meta["framework"], **keep)


@pytest.mark.points(0)
def test_a_pipeline_the_scorer_cannot_reproduce_is_refused_at_load(churn_root, tmp_path):
    import shutil

    from sklearn.preprocessing import MinMaxScaler

    root = tmp_path / "artifacts"
    shutil.copytree(churn_root, root)
    frame = make_churn(2_000, seed=1)[feature_names(1)]

    def swap_scaler(model):
        pre = model.steps[0][1]
        name, _, cols = pre.transformers_[0]
        pre.transformers_[0] = (name, MinMaxScaler().fit(frame[cols]), cols)

    _resave(root, 1, swap_scaler)
    with pytest.raises(ScorerMismatch, match="cannot be built") as info:
        load_artifact("churn", 1, root)
    assert info.value.reason == "scorer_mismatch"

    def break_encoder(model):  # unpickles fine, fails on the first unknown category
        model.steps[0][1].named_transformers_["cat"].handle_unknown = "error"

    _resave(root, 1, break_encoder)
    with pytest.raises(ScorerMismatch):
        load_artifact("churn", 1, root)


@pytest.mark.points(0)
def test_a_fast_path_that_drifts_is_refused_at_load(churn_root, monkeypatch):
    import course_models.scoring as scoring

    compile_estimator = scoring._compile_estimator

    def off_by_a_little(estimator):
        predict = compile_estimator(estimator)
        return lambda x: predict(x) + 1e-7

    monkeypatch.setattr(scoring, "_compile_estimator", off_by_a_little)
    with pytest.raises(ScorerMismatch, match="disagrees with the pipeline") as info:
        load_artifact("churn", 2, churn_root)
    assert info.value.to_dict()["reason"] == "scorer_mismatch"


@pytest.mark.points(0)
def test_reference_sample_covers_what_serving_meets():
    records = reference_records(2)
    assert len(records) >= 256
    assert any("satisfaction_score" not in r for r in records)
    assert any(UNKNOWN_CATEGORY in r.values() for r in records)
    names = {f.name for f in features_for_version(2)}
    assert all(set(r) <= names for r in records)
