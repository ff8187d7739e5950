"""Model logic: load the churn versions once, score records. Knows nothing about HTTP.

A version either loads completely (artifact verified, model deserialised, one warm-up
prediction answered) or is recorded as an error; nothing in between is ever served.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_models.artifacts import ArtifactError, LoadedArtifact, load_artifact
from course_models.tabular import example_record, predict_proba, records_to_frame


@dataclass
class ServedModel:
    artifact: LoadedArtifact
    load_seconds: float

    @property
    def metadata(self) -> dict[str, Any]:
        return self.artifact.metadata


class ModelNotReady(RuntimeError):
    """Raised when a request needs a version that is not loaded; carries the load error."""

    def __init__(self, name: str, version: int, error: dict[str, Any] | None):
        self.detail = {
            "model": name,
            "version": version,
            "reason": (error or {}).get("reason", "not_loaded"),
            "message": (error or {}).get("message", f"{name} v{version} is not loaded"),
        }
        super().__init__(self.detail["message"])


class ModelRegistry:
    def __init__(self, name: str, versions: Sequence[int], root: str | Path | None = None):
        self.name = name
        self.versions = sorted(set(versions))
        self.root = root
        self.models: dict[int, ServedModel] = {}
        self.errors: dict[int, dict[str, Any]] = {}

    def load(self) -> None:
        """Load every configured version; failures are kept as data, never raised."""
        loaded: dict[int, ServedModel] = {}
        errors: dict[int, dict[str, Any]] = {}
        for version in self.versions:
            t0 = time.perf_counter()
            try:
                artifact = load_artifact(self.name, version, self.root)
                # A model that loads but cannot score (wrong columns, broken pickle) is not ready.
                predict_proba(
                    artifact.model, records_to_frame([example_record(2)], version), version
                )
            except ArtifactError as exc:
                errors[version] = exc.to_dict()
                continue
            except Exception as exc:
                errors[version] = {"reason": "load_failed", "message": repr(exc), "path": ""}
                continue
            loaded[version] = ServedModel(artifact, time.perf_counter() - t0)
        self.models, self.errors = loaded, errors  # swap in one step

    def close(self) -> None:
        self.models, self.errors = {}, {}

    @property
    def ready(self) -> bool:
        return bool(self.models) and not self.errors and set(self.models) == set(self.versions)

    def get(self, version: int) -> ServedModel:
        served = self.models.get(version)
        if served is None:
            raise ModelNotReady(self.name, version, self.errors.get(version))
        return served

    def predict(self, version: int, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Churn probability per record, in order: one vectorised call however many rows."""
        model = self.get(version).artifact.model
        return predict_proba(model, records_to_frame(records, version), version)
