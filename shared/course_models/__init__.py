"""Shared, offline, deterministic datasets and models for the model-serving course.

Labs import from here so that training, feature logic and artifact checks live in one place
(model logic), separate from each lab's API logic and deployment mechanics.
"""

from course_models.artifacts import (
    ArtifactCorrupt,
    ArtifactError,
    ArtifactNotFound,
    ArtifactVersionMismatch,
    LoadedArtifact,
    ScorerMismatch,
    artifacts_root,
    latest_version,
    list_artifacts,
    load_artifact,
)
from course_models.schema import CHURN_FEATURES, Feature, features_for_version

__all__ = [
    "CHURN_FEATURES",
    "ArtifactCorrupt",
    "ArtifactError",
    "ArtifactNotFound",
    "ArtifactVersionMismatch",
    "Feature",
    "LoadedArtifact",
    "ScorerMismatch",
    "artifacts_root",
    "features_for_version",
    "latest_version",
    "list_artifacts",
    "load_artifact",
]
