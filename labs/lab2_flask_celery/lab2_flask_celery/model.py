"""The model side of lab 2: load once per process, predict fast, explain slowly.

``/predict`` goes through the trained pipeline (pandas + XGBoost's C++ code, a few ms).
``/explain`` estimates per-feature contributions by permutation sampling (Štrumbelj &
Kononenko): thousands of perturbed rows, each scored by walking the model's trees *in pure
Python*. That is on purpose: interpreted Python holds the GIL the whole time, like any
Python-heavy pre/post-processing, so threads cannot run it in parallel — processes can.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from course_models.artifacts import LoadedArtifact, load_artifact
from course_models.datasets import make_churn
from course_models.schema import feature_names
from course_models.scoring import ChurnScorer
from course_models.tabular import prepare_frame, records_to_frame


class DeadlineExceeded(RuntimeError):
    """The heavy call ran out of its time budget (raised between steps, never mid-write)."""


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class PythonTrees:
    """An XGBoost binary:logistic booster as plain Python lists, scored node by node."""

    def __init__(self, booster: Any):
        model = json.loads(booster.save_raw("json"))
        learner = model["learner"]
        if learner["objective"]["name"] != "binary:logistic":
            raise ValueError(f"unsupported objective {learner['objective']['name']!r}")
        base_score = float(str(learner["learner_model_param"]["base_score"]).strip("[]"))
        self.base_margin = math.log(base_score / (1.0 - base_score))
        self.trees = []
        for tree in learner["gradient_booster"]["model"]["trees"]:
            self.trees.append(
                (
                    list(tree["left_children"]),
                    list(tree["right_children"]),
                    list(tree["split_indices"]),
                    # XGBoost compares in float32: round thresholds the same way.
                    [float(np.float32(v)) for v in tree["split_conditions"]],
                    [bool(v) for v in tree["default_left"]],
                )
            )

    def margin(self, row: Sequence[float]) -> float:
        total = self.base_margin
        for left, right, feature, threshold, default_left in self.trees:
            node = 0
            while left[node] != -1:
                value = row[feature[node]]
                if value != value:  # NaN: follow the learned default direction
                    node = left[node] if default_left[node] else right[node]
                elif value < threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            total += threshold[node]  # a leaf stores its value in split_conditions
        return total


class PythonLinear:
    """A logistic-regression head (model version 1) scored in pure Python."""

    def __init__(self, clf: Any):
        self.weights = [float(w) for w in clf.coef_[0]]
        self.bias = float(clf.intercept_[0])

    def margin(self, row: Sequence[float]) -> float:
        return self.bias + sum(w * x for w, x in zip(self.weights, row, strict=True))


@dataclass
class Explanation:
    prediction: float
    base_value: float
    contributions: dict[str, float]
    permutations: int
    background_rows: int
    evaluations: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChurnModel:
    """One loaded churn artifact plus its pure-Python scorer for explanations."""

    def __init__(
        self,
        artifact: LoadedArtifact,
        background_rows: int = 8,
        seed: int = 0,
        scorer: str = "fast",
    ):
        self.artifact = artifact
        # The one scoring path of the lab (course_models.scoring): "fast" is the compiled
        # numpy transform checked against the pipeline at load, "pipeline" today's sklearn path.
        self.churn_scorer = ChurnScorer.from_artifact(artifact, scorer)
        self.version = artifact.version
        self.features = feature_names(self.version)
        pipeline = artifact.model
        self.preprocess = pipeline[:-1]
        head = pipeline[-1]
        self.scorer = (
            PythonTrees(head.get_booster()) if hasattr(head, "get_booster") else PythonLinear(head)
        )
        # Deterministic background customers: "absent" features take their values.
        background = make_churn(max(1, background_rows), seed=seed + 1000)
        self.background = self._matrix(prepare_frame(background, self.version))
        # Raw feature -> its columns after preprocessing (a one-hot group moves as one).
        out_names = [n.split("__", 1)[1] for n in self.preprocess.get_feature_names_out()]
        self.columns = [
            [i for i, n in enumerate(out_names) if n == f or n.startswith(f + "_")]
            for f in self.features
        ]
        self.loaded_at = time.time()

    @property
    def info(self) -> dict[str, Any]:
        meta = self.artifact.metadata
        return {
            "name": self.artifact.name,
            "version": self.version,
            "framework": meta.get("framework"),
            "sha256": meta.get("sha256"),
            "features": self.features,
        }

    def predict(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """P(churns) for validated records: the lab's only call into the churn model."""
        return self.churn_scorer.score_records(records)

    def python_proba(self, records: Sequence[Mapping[str, Any]]) -> list[float]:
        """Same numbers as ``predict`` but through the pure-Python scorer (tests compare them)."""
        matrix = self._matrix(records_to_frame(records, self.version))
        return [_sigmoid(self.scorer.margin(row)) for row in matrix]

    def _matrix(self, frame: pd.DataFrame) -> list[list[float]]:
        dense = np.asarray(self.preprocess.transform(frame), dtype=np.float64)
        if self.version >= 2:  # float32 like XGBoost's DMatrix, so splits agree exactly
            dense = dense.astype(np.float32).astype(np.float64)
        return dense.tolist()

    def explain(
        self,
        record: Mapping[str, Any],
        permutations: int,
        seed: int = 0,
        deadline: float | None = None,
    ) -> Explanation:
        """Permutation-sampled Shapley values in probability space.

        For each random feature order and background row, switch features from the background
        value to the customer's one by one; each switch's change in probability is credited to
        that feature. Contributions sum exactly to ``prediction - base_value``.
        """
        x = self._matrix(records_to_frame([record], self.version))[0]
        rng = np.random.default_rng(seed)
        d = len(self.features)
        totals = [0.0] * d
        evaluations = 0
        score = self.scorer.margin
        for _ in range(permutations):
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(f"explain stopped after {evaluations} model evaluations")
            order = rng.permutation(d).tolist()
            for bg_row in self.background:
                current = list(bg_row)
                before = _sigmoid(score(current))
                for j in order:
                    for c in self.columns[j]:
                        current[c] = x[c]
                    after = _sigmoid(score(current))
                    totals[j] += after - before
                    before = after
                evaluations += d + 1
        n = permutations * len(self.background)
        contributions = {f: totals[i] / n for i, f in enumerate(self.features)}
        prediction = _sigmoid(score(x))
        base = sum(_sigmoid(score(r)) for r in self.background) / len(self.background)
        return Explanation(
            prediction, base, contributions, permutations, len(self.background), evaluations
        )


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _cached(
    name: str, version: int, root: str | None, background: int, seed: int, scorer: str
) -> ChurnModel:
    return ChurnModel(load_artifact(name, version, root), background, seed, scorer)


def get_model(
    name: str = "churn",
    version: int = 2,
    root: str | Path | None = None,
    background: int = 8,
    seed: int = 0,
    cached: bool = True,
    scorer: str = "fast",
) -> ChurnModel:
    """The process's model: loaded on first use, then reused by every request or task.

    ``cached=False`` is the per-request-load variant students diagnose.
    """
    key = (name, int(version), str(root) if root else None, int(background), int(seed), scorer)
    if not cached:
        return ChurnModel(load_artifact(name, version, root), background, seed, scorer)
    with _lock:  # two threads of one gthread worker must not both load it
        return _cached(*key)
