"""What the artifact loader and the churn scorer's load check share: errors, the loaded model.

Kept apart from ``artifacts`` (which loads and calls the check) and ``scoring`` (which owns the
check), so that the loader depends on the scorer and the scorer on neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ArtifactError(RuntimeError):
    """Base class: the artifact cannot be used. ``reason`` is a short machine-readable code."""

    reason = "artifact_error"

    def __init__(self, message: str, path: Path | None = None):
        super().__init__(message)
        self.path = path

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "message": str(self), "path": str(self.path or "")}


class ArtifactNotFound(ArtifactError):
    reason = "not_found"


class ArtifactCorrupt(ArtifactError):
    reason = "corrupt"


class ArtifactVersionMismatch(ArtifactError):
    reason = "version_mismatch"


class ScorerMismatch(ArtifactError):
    """The compiled (fast) churn scorer disagrees with the pipeline it was built from."""

    reason = "scorer_mismatch"


@dataclass
class LoadedArtifact:
    name: str
    version: int
    path: Path
    metadata: dict[str, Any]
    model: Any
    scorer: Any = None  # churn models: the checked fast ChurnScorer (course_models.scoring)
