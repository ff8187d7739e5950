"""The one churn scoring path for every lab, batch and real time: ``ChurnScorer``.

Scoring one record through ``records_to_frame`` -> ``prepare_frame`` -> the sklearn
``Pipeline`` costs milliseconds of pandas and ``ColumnTransformer`` bookkeeping around an
estimator that needs a tenth of that. The "fast" mode compiles the FITTED pipeline once, at
load time, into plain numpy: the one-hot indices, the scaler's ``mean_``/``scale_`` and the
passthrough columns are read from the fitted ``ColumnTransformer``; logistic regression
becomes one matrix product and ``expit``; XGBoost is called through ``inplace_predict`` on
the same float64 matrix the pipeline would build (XGBoost converts to float32 inside, exactly
as it does for the pipeline). Nothing is trained twice, so the two paths cannot drift apart;
and because "cannot" is a claim, every load scores a fixed reference sample through both and
refuses the artifact (``ScorerMismatch``, reason ``scorer_mismatch``) if they disagree.

Logistic regression is summed in a fixed order per row (``_row_sums``), not by a BLAS
matrix-vector product: BLAS picks its kernel, and so its summation order, by the batch's shape
(on AMD EPYC a row scored alone and the same row in a batch of 7 differ by one ulp), and a
row's probability must not depend on its neighbours. XGBoost already sums each row's trees in
tree order, whatever the batch and thread count.

``python -m course_models.scorer_bench`` prints pipeline vs fast p50 latencies.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from course_models.artifact_types import LoadedArtifact, ScorerMismatch
from course_models.schema import CHURN_FEATURES, Feature, features_for_version

if TYPE_CHECKING:  # pandas is imported where a frame is scored: not for records alone
    import pandas as pd

Mode = Literal["fast", "pipeline"]

# Largest |fast - pipeline| the load check accepts. The compiled path repeats the pipeline's
# float operations, except that logistic regression sums each row in a fixed order where the
# pipeline's BLAS picks an order by shape: the two differ by at most a few ulps (~1e-17 here).
TOLERANCE = 1e-9
REFERENCE_ROWS = 512
UNKNOWN_CATEGORY = "not-a-known-category"


def schema_version(loaded: LoadedArtifact) -> int:
    """The feature-schema version an artifact consumes (its metadata, else its version)."""
    names = {f.get("name") for f in loaded.metadata.get("feature_schema", [])}
    used = [f.since_version for f in CHURN_FEATURES if f.name in names]
    return max(used) if used else int(loaded.version)


# --- the compiled transform ------------------------------------------------------------------


@dataclass
class _Column:
    """One input feature's place in the model matrix and how to put it there."""

    feature: Feature
    start: int  # first matrix column
    mean: float | None = None  # StandardScaler, when present
    scale: float | None = None
    index: dict[str, int] = field(default_factory=dict)  # one-hot: category -> offset


def _is_passthrough(trans: Any) -> bool:
    """``"passthrough"``, which a fitted ColumnTransformer stores as an identity function."""
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(trans, str):
        return trans == "passthrough"
    return type(trans) is FunctionTransformer and trans.func is None


def _scaler_params(trans: Any, k: int) -> tuple[float | None, float | None]:
    from sklearn.preprocessing import StandardScaler

    if _is_passthrough(trans):
        return None, None
    if not isinstance(trans, StandardScaler):
        raise TypeError(f"cannot compile numeric transformer {type(trans).__name__}")
    mean = float(trans.mean_[k]) if trans.with_mean else None
    scale = float(trans.scale_[k]) if trans.with_std else None
    return mean, scale


def _onehot_index(trans: Any, k: int) -> dict[str, int]:
    from sklearn.preprocessing import OneHotEncoder

    if not isinstance(trans, OneHotEncoder):
        raise TypeError(f"cannot compile categorical transformer {type(trans).__name__}")
    if trans.handle_unknown != "ignore" or trans.drop is not None:
        raise TypeError("the compiled one-hot needs handle_unknown='ignore' and drop=None")
    if getattr(trans, "_infrequent_enabled", False):
        raise TypeError("the compiled one-hot does not support infrequent categories")
    return {str(c): i for i, c in enumerate(trans.categories_[k])}


def _compile_columns(pre: Any, feats: tuple[Feature, ...]) -> tuple[list[_Column], int]:
    """Walk the fitted ColumnTransformer in output order and record where each feature lands."""
    by_name = {f.name: f for f in feats}
    columns: list[_Column] = []
    start = 0
    for _, trans, cols in pre.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        for k, name in enumerate(cols):
            feat = by_name[name]
            if feat.kind == "categorical":
                index = _onehot_index(trans, k)
                columns.append(_Column(feat, start, index=index))
                start += len(index)
                continue
            mean, scale = _scaler_params(trans, k) if feat.kind == "numeric" else (None, None)
            if feat.kind == "boolean" and not _is_passthrough(trans):
                raise TypeError(f"cannot compile boolean transformer {type(trans).__name__}")
            columns.append(_Column(feat, start, mean, scale))
            start += 1
    missing = set(by_name) - {c.feature.name for c in columns}
    if missing:
        raise TypeError(f"the pipeline does not use feature(s) {sorted(missing)}")
    return columns, start


def _record_values(records: Sequence[Mapping[str, Any]], col: _Column) -> np.ndarray:
    """One feature of validated records, converted exactly as ``records_to_frame`` does."""
    name = col.feature.name
    if col.feature.kind == "numeric":
        return np.array(
            [math.nan if (v := r.get(name)) is None else float(v) for r in records], np.float64
        )
    if col.feature.kind == "boolean":
        return np.array([bool(r.get(name)) for r in records], np.float64)
    index = col.index
    return np.array([index.get(str(r.get(name)), -1) for r in records], np.intp)


def _frame_values(frame: pd.DataFrame, col: _Column) -> np.ndarray:
    """One feature of a DataFrame, converted exactly as ``prepare_frame`` does."""
    feat = col.feature
    if feat.name not in frame.columns:
        if feat.optional:
            return np.full(len(frame), np.nan)
        raise KeyError(f"input is missing required feature {feat.name!r}")
    series = frame[feat.name]
    if feat.kind == "numeric":
        return series.astype("float64").to_numpy()
    if feat.kind == "boolean":
        return series.astype(bool).to_numpy().astype(np.float64)
    # Categories are strings, so matching values as they are equals matching str(value)
    # (prepare_frame's conversion): a non-string never equals a category either way.
    import pandas as pd

    return pd.Index(list(col.index)).get_indexer(series.to_numpy(dtype=object)).astype(np.intp)


def _arrow_to_frame(table: Any, feats: tuple[Feature, ...]) -> pd.DataFrame:
    """Only the model's columns of an Arrow table, without a full ``to_pandas`` copy."""
    names = [f.name for f in feats if f.name in table.column_names]
    return table.select(names).to_pandas()


class _Compiled:
    """The fitted pipeline as numpy: a matrix builder plus the estimator's own arithmetic."""

    def __init__(self, pipeline: Any, feats: tuple[Feature, ...]):
        pre, estimator = pipeline.steps[0][1], pipeline.steps[-1][1]
        self.columns, self.width = _compile_columns(pre, feats)
        self.predict = _compile_estimator(estimator)

    def matrix(self, values: Callable[[_Column], np.ndarray], n: int) -> np.ndarray:
        out = np.zeros((n, self.width), dtype=np.float64)
        rows = np.arange(n)
        for col in self.columns:
            v = values(col)
            if col.feature.kind == "categorical":
                known = v >= 0
                out[rows[known], col.start + v[known]] = 1.0
                continue
            if col.mean is not None:
                v = v - col.mean
            if col.scale is not None:
                v = v / col.scale
            out[:, col.start] = v
        return out


SMALL_BATCH = 64  # rows up to which one accumulate over the products beats a column loop


def _row_sums(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``x @ coef`` summed left to right in every row, whatever the batch or the machine.

    Each product is one IEEE multiply and each sum one IEEE add, in column order, so a row's sum
    is the same float alone, anywhere in a batch, with any thread count, on any CPU. Small
    batches take one ``np.add.accumulate`` (strictly sequential along the row); large ones add
    column after column (no n x width temporary). Both are the same additions in the same order.
    """
    if x.shape[0] <= SMALL_BATCH:
        return np.add.accumulate(x * coef, axis=1)[:, -1]
    total = x[:, 0] * coef[0]
    for j in range(1, x.shape[1]):
        total += x[:, j] * coef[j]
    return total


def _compile_estimator(estimator: Any) -> Callable[[np.ndarray], np.ndarray]:
    """P(class 1) from the model matrix with the estimator's own operations, no validation."""
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    if isinstance(estimator, LogisticRegression):
        if len(estimator.classes_) != 2:
            raise TypeError("the compiled scorer handles binary classifiers only")
        coef, intercept = estimator.coef_.reshape(-1).copy(), float(estimator.intercept_[0])

        def logistic(x: np.ndarray) -> np.ndarray:
            scores = _row_sums(x, coef) + intercept
            return expit(scores, out=scores)

        return logistic
    from xgboost import XGBClassifier

    if isinstance(estimator, XGBClassifier):
        booster = estimator.get_booster()
        # As XGBClassifier.predict does: best_iteration when trained with early stopping.
        best = getattr(estimator, "best_iteration", None)
        iteration_range = (0, best + 1) if best is not None else (0, 0)
        missing = estimator.missing

        def boosted(x: np.ndarray) -> np.ndarray:
            p = booster.inplace_predict(
                x, iteration_range=iteration_range, missing=missing, validate_features=False
            )
            return np.asarray(p).astype(np.float64)

        return boosted
    raise TypeError(f"cannot compile estimator {type(estimator).__name__}")


# --- the public seam -------------------------------------------------------------------------


class ChurnScorer:
    """P(churns) for validated records or a frame/Arrow batch; one object per loaded artifact."""

    def __init__(self, loaded: LoadedArtifact, mode: Mode, version: int, compiled: Any):
        self.artifact = loaded
        self.mode: Mode = mode
        self.version = version
        self.features = features_for_version(version)
        self._compiled: _Compiled | None = compiled
        self.max_abs_diff: float | None = None

    @classmethod
    def from_artifact(cls, loaded: LoadedArtifact, mode: Mode = "fast") -> ChurnScorer:
        """Build the scorer; in "fast" mode compile and check it against the pipeline."""
        if mode not in ("fast", "pipeline"):
            raise ValueError(f"mode must be 'fast' or 'pipeline', not {mode!r}")
        version = schema_version(loaded)
        if mode == "pipeline":
            return cls(loaded, mode, version, None)
        cached = getattr(loaded, "scorer", None)
        if isinstance(cached, ChurnScorer) and cached.mode == "fast":
            return cached
        try:
            compiled = _Compiled(loaded.model, features_for_version(version))
        except (AttributeError, KeyError, TypeError, IndexError) as exc:
            raise ScorerMismatch(
                f"{loaded.path}: the fast scorer cannot be built from this pipeline: {exc}",
                loaded.path,
            ) from exc
        scorer = cls(loaded, mode, version, compiled)
        scorer.verify()
        return scorer

    def score_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Records as the API validated them (optional features may be absent)."""
        if self._compiled is None:
            from course_models.tabular import predict_proba, records_to_frame

            return predict_proba(self.model, records_to_frame(records, self.version), self.version)
        if not records:
            return np.empty(0, dtype=np.float64)
        compiled = self._compiled
        return compiled.predict(
            compiled.matrix(lambda col: _record_values(records, col), len(records))
        )

    def score_frame(self, frame: Any) -> np.ndarray:
        """A pandas DataFrame or a pyarrow Table (e.g. a Parquet batch) holding the features."""
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            frame = _arrow_to_frame(frame, self.features)
        if self._compiled is None:
            from course_models.tabular import predict_proba

            return predict_proba(self.model, frame, self.version)
        compiled = self._compiled
        return compiled.predict(compiled.matrix(lambda col: _frame_values(frame, col), len(frame)))

    @property
    def model(self) -> Any:
        return self.artifact.model

    def verify(self, records: Sequence[Mapping[str, Any]] | None = None) -> float:
        """Score the reference sample both ways; raise ScorerMismatch beyond TOLERANCE."""
        records = reference_records(self.version) if records is None else records
        reference = ChurnScorer(self.artifact, "pipeline", self.version, None)
        try:
            with warnings.catch_warnings():  # unknown categories in the sample are on purpose
                warnings.simplefilter("ignore", UserWarning)
                expected = reference.score_records(records)
        except Exception as exc:  # a pipeline that cannot score the sample is no reference
            raise ScorerMismatch(
                f"{self.artifact.path}: the pipeline fails on the reference sample: {exc}",
                self.artifact.path,
            ) from exc
        got_records = self.score_records(records)
        import pandas as pd

        got_frame = self.score_frame(pd.DataFrame.from_records(list(records)))
        diff = max(_max_abs_diff(expected, got_records), _max_abs_diff(expected, got_frame))
        self.max_abs_diff = diff
        if not diff <= TOLERANCE:
            raise ScorerMismatch(
                f"{self.artifact.path}: the fast scorer disagrees with the pipeline on the "
                f"reference sample (max |difference| {diff:.3g} > {TOLERANCE:g}); refusing the "
                "artifact",
                self.artifact.path,
            )
        return diff


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return math.inf
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.abs(a - b)
    diff[both_nan] = 0.0
    return float(np.nanmax(diff, initial=0.0)) if not np.isnan(diff).any() else math.inf


def reference_records(
    version: int, n: int = REFERENCE_ROWS, seed: int = 20_240_613
) -> list[dict[str, Any]]:
    """A fixed sample covering what serving meets: absent optionals, unknown categories, bounds."""
    from course_models.datasets import make_churn

    feats = features_for_version(version)
    frame = make_churn(n, seed=seed)
    records = [
        {f.name: _plain(row[f.name]) for f in feats} for row in frame.to_dict(orient="records")
    ]
    categorical = [f for f in feats if f.kind == "categorical"]
    for i, record in enumerate(records):
        for f in feats:
            if f.optional and (i % 3 == 0 or record.get(f.name) is None):
                record.pop(f.name, None)  # left out, as a v1 client would
        if i % 7 == 0:
            record[categorical[i % len(categorical)].name] = UNKNOWN_CATEGORY
        if i % 11 == 0:  # the schema's bounds
            for f in feats:
                if f.kind == "numeric" and f.name in record:
                    record[f.name] = f.minimum if i % 2 else f.maximum
    return records


def _plain(value: Any) -> Any:
    """numpy scalars -> Python values, NaN -> None (JSON-like, as an API hands them over)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def attach_checked_scorer(loaded: LoadedArtifact) -> LoadedArtifact:
    """The loader's check: churn pipelines get a verified fast scorer or are refused."""
    meta = loaded.metadata
    if meta.get("framework") in ("sklearn", "xgboost") and meta.get("feature_schema"):
        loaded.scorer = ChurnScorer.from_artifact(loaded, "fast")
    return loaded
