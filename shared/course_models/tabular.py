"""Churn models and the one prediction function every lab calls.

Version 1 is a scikit-learn pipeline (one-hot + scaling + logistic regression); version 2 is
XGBoost on the same features plus the optional ``satisfaction_score`` (missing values are
handled natively by XGBoost, which is why the feature can stay optional for consumers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from course_models.schema import CHURN_FEATURES, LABEL, features_for_version

CLASSES = ["stays", "churns"]


def records_to_frame(records: Iterable[Mapping[str, Any]], version: int) -> pd.DataFrame:
    """Validated request records -> a frame with the columns and dtypes the model expects.

    Optional features a client left out become NaN, so v1 clients can call v2 models.
    """
    feats = features_for_version(version)
    rows = list(records)
    data: dict[str, Any] = {}
    for f in feats:
        values = [r.get(f.name) for r in rows]
        if f.kind == "numeric":
            data[f.name] = pd.array(
                [np.nan if v is None else float(v) for v in values], dtype="float64"
            ).to_numpy()
        elif f.kind == "boolean":
            data[f.name] = np.asarray([bool(v) for v in values], dtype=bool)
        else:
            data[f.name] = np.asarray([str(v) for v in values], dtype=object)
    return pd.DataFrame(data, columns=[f.name for f in feats])


def prepare_frame(frame: pd.DataFrame, version: int) -> pd.DataFrame:
    """Select and type the model's columns from any frame holding them (e.g. a Parquet batch)."""
    feats = features_for_version(version)
    out = {}
    for f in feats:
        if f.name not in frame.columns:
            if f.optional:
                out[f.name] = np.full(len(frame), np.nan)
                continue
            raise KeyError(f"input is missing required feature {f.name!r}")
        col = frame[f.name]
        if f.kind == "numeric":
            out[f.name] = col.astype("float64").to_numpy()
        elif f.kind == "boolean":
            out[f.name] = col.astype(bool).to_numpy()
        else:
            out[f.name] = col.astype(str).to_numpy(dtype=object)
    return pd.DataFrame(out, columns=[f.name for f in feats])


def predict_proba(model: Any, frame: pd.DataFrame, version: int) -> np.ndarray:
    """Churn probability per row (float64), the single scoring path for batch and real time."""
    prepared = prepare_frame(frame, version)
    return model.predict_proba(prepared)[:, 1].astype(np.float64)


def build_pipeline(version: int, seed: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    feats = features_for_version(version)
    numeric = [f.name for f in feats if f.kind == "numeric"]
    categorical = [f.name for f in feats if f.kind == "categorical"]
    boolean = [f.name for f in feats if f.kind == "boolean"]
    cats = [list(f.categories) for f in feats if f.kind == "categorical"]
    if version == 1:
        pre = ColumnTransformer(
            [
                ("num", StandardScaler(), numeric),
                ("cat", OneHotEncoder(categories=cats, handle_unknown="ignore"), categorical),
                ("bool", "passthrough", boolean),
            ]
        )
        clf = LogisticRegression(max_iter=1000, random_state=seed)
        return Pipeline([("features", pre), ("model", clf)])
    from xgboost import XGBClassifier

    pre = ColumnTransformer(
        [
            ("num", "passthrough", numeric),
            (
                "cat",
                OneHotEncoder(categories=cats, handle_unknown="ignore", sparse_output=False),
                categorical,
            ),
            ("bool", "passthrough", boolean),
        ]
    )
    clf = XGBClassifier(
        n_estimators=300,
        max_depth=5,
        learning_rate=0.05,
        subsample=0.9,
        colsample_bytree=0.9,
        random_state=seed,
        n_jobs=1,
        tree_method="hist",
        eval_metric="logloss",
    )
    return Pipeline([("features", pre), ("model", clf)])


def evaluate(model: Any, frame: pd.DataFrame, version: int) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    y = frame[LABEL].to_numpy()
    proba = predict_proba(model, frame, version)
    return {
        "accuracy": round(float(accuracy_score(y, proba >= 0.5)), 4),
        "roc_auc": round(float(roc_auc_score(y, proba)), 4),
        "log_loss": round(float(log_loss(y, proba)), 4),
        "positive_rate": round(float(y.mean()), 4),
    }


def feature_schema(version: int) -> list[dict[str, Any]]:
    return [f.to_dict() for f in features_for_version(version)]


def example_record(version: int = 1) -> dict[str, Any]:
    """A valid request body, handy for docs, tests and load scripts."""
    record = {
        "tenure_months": 5,
        "monthly_charges": 89.5,
        "support_calls": 3,
        "age": 34,
        "contract": "month-to-month",
        "payment_method": "electronic-check",
        "internet_service": "fiber",
        "paperless_billing": True,
        "has_partner": False,
    }
    if version >= 2:
        record["satisfaction_score"] = 2.5
    return record


__all__ = [
    "CHURN_FEATURES",
    "CLASSES",
    "build_pipeline",
    "evaluate",
    "example_record",
    "feature_schema",
    "predict_proba",
    "prepare_frame",
    "records_to_frame",
]
