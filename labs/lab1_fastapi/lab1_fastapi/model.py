"""Model logic: load the churn versions once, score records. Knows nothing about HTTP.

A version either loads completely (artifact verified, scorer built, one warm-up prediction
answered) or is recorded as an error; nothing in between is ever served. Errors keep a reason
code and a message that is safe to show clients; paths and checksums go to the server log only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_models.artifacts import ArtifactError, LoadedArtifact, load_artifact
from course_models.scoring import ChurnScorer
from course_models.tabular import example_record
from course_models.tasks import TaskNotImplemented  # noqa: F401 - raised by the task 1.1 stub
from lab1_fastapi.settings import ScoringMode

log = logging.getLogger("lab1_fastapi")

Records = Sequence[Mapping[str, Any]]
Score = Callable[[Records], np.ndarray]

# What a client may read about a failed load. The exception text (file paths, sha256 prefixes,
# library versions) helps an operator and an attacker alike, so it goes to the log instead.
SAFE_MESSAGES = {
    "not_found": "{name} v{version} is not trained on this server (run `make train`)",
    "corrupt": "{name} v{version} failed its integrity check; see the server log",
    "version_mismatch": (
        "{name} v{version} was trained with other library versions; retrain it or install "
        "the pinned versions (details in the server log)"
    ),
    "scorer_mismatch": "{name} v{version}: fast scorer and pipeline disagree; see the server log",
    "load_failed": "{name} v{version} could not be loaded; see the server log",
    "not_loaded": "{name} v{version} is not loaded",
}


def safe_error(name: str, version: int, reason: str) -> dict[str, str]:
    template = SAFE_MESSAGES.get(reason, SAFE_MESSAGES["load_failed"])
    return {"reason": reason, "message": template.format(name=name, version=version)}


def build_scorer(artifact: LoadedArtifact, mode: ScoringMode) -> Score:
    """The one place lab 1 turns records into P(churns): the shared ``ChurnScorer``.

    ``fast`` reuses the compiled scorer ``load_artifact`` already checked against the
    pipeline (a mismatch was refused there, as ``ScorerMismatch``); ``pipeline`` is the sklearn
    path, kept so students can measure what compiling saves.
    """
    return ChurnScorer.from_artifact(artifact, mode).score_records


@dataclass
class ServedModel:
    artifact: LoadedArtifact
    score: Score
    load_seconds: float

    @property
    def metadata(self) -> dict[str, Any]:
        return self.artifact.metadata


class ModelNotReady(RuntimeError):
    """Raised when a request needs a version that is not loaded; carries the safe error."""

    def __init__(self, name: str, version: int, error: dict[str, Any] | None):
        self.detail = {
            "model": name,
            "version": version,
            **(error or safe_error(name, version, "not_loaded")),
        }
        super().__init__(self.detail["message"])


class ModelRegistry:
    def __init__(
        self,
        name: str,
        versions: Sequence[int],
        root: str | Path | None = None,
        scoring: ScoringMode = "fast",
    ):
        self.name = name
        self.versions = sorted(set(versions))
        self.root = root
        self.scoring = scoring
        self.models: dict[int, ServedModel] = {}
        self.errors: dict[int, dict[str, Any]] = {}

    def _load_one(self, version: int) -> ServedModel:
        t0 = time.perf_counter()
        artifact = load_artifact(self.name, version, self.root)
        score = build_scorer(artifact, self.scoring)
        score([example_record(2)])  # a model that loads but cannot score is not ready
        return ServedModel(artifact, score, time.perf_counter() - t0)

    def _failed(self, version: int, reason: str, exc: BaseException) -> dict[str, str]:
        log.error("model %s v%s not loaded (%s): %s", self.name, version, reason, exc)
        return safe_error(self.name, version, reason)

    # BEGIN TASK 1.1: load every version once at start-up; say whether the service is ready
    def load(self) -> None:
        """Load every configured version; failures are kept as data, never raised."""
        loaded: dict[int, ServedModel] = {}
        errors: dict[int, dict[str, Any]] = {}
        for version in self.versions:
            try:
                loaded[version] = self._load_one(version)
            except ArtifactError as exc:
                errors[version] = self._failed(version, exc.reason, exc)
            except Exception as exc:  # a broken pickle, wrong columns: not ready, no crash
                errors[version] = self._failed(version, "load_failed", exc)
        self.models, self.errors = loaded, errors  # swap in one step

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, body) for /ready: ready only when every configured version loaded."""
        ready = bool(self.models) and set(self.models) == set(self.versions)
        body = {
            "status": "ready" if ready else "not_ready",
            "model": self.name,
            "loaded": sorted(self.models),
            "errors": [{"version": v, **err} for v, err in sorted(self.errors.items())],
        }
        return ready, body

    # STUB
    # def load(self) -> None:
    #     """Task 1.1: load every configured version here (see the README); none is loaded yet."""
    #     log.warning("task 1.1 not implemented: no model is loaded")
    # def readiness(self) -> tuple[bool, dict[str, Any]]:
    #     raise TaskNotImplemented("1.1", "model loading and the /ready answer")
    # END TASK 1.1

    def close(self) -> None:
        self.models, self.errors = {}, {}

    def get(self, version: int) -> ServedModel:
        served = self.models.get(version)
        if served is None:
            raise ModelNotReady(self.name, version, self.errors.get(version))
        return served

    def predict(self, version: int, records: Records) -> np.ndarray:
        """Churn probability per record, in order: one vectorised call however many rows."""
        return self.get(version).score(records)
