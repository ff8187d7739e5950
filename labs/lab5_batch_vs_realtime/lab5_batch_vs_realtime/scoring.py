"""The one place lab 5 turns features into P(churns): real time and batch both call it.

Keeping a single seam is what makes the two modes agree to the last bit (a test checks it). The
engine is the course's ``ChurnScorer``: the fitted pipeline compiled to numpy at load time and
checked against the pipeline there (``load_artifact`` refuses it with ``scorer_mismatch`` if the
two disagree). ``LAB5_SCORER=pipeline`` scores through the sklearn pipeline instead, to see what
the compiled path saves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from course_models.artifacts import LoadedArtifact, load_artifact
from course_models.scoring import ChurnScorer, Mode
from lab5_batch_vs_realtime.settings import MODEL_NAME


def model_of(artifact: LoadedArtifact, mode: Mode = "fast") -> ChurnScorer:
    """The scorer of a loaded churn artifact (the loader's checked one in "fast" mode)."""
    if mode == "fast" and isinstance(artifact.scorer, ChurnScorer):
        return artifact.scorer
    return ChurnScorer.from_artifact(artifact, mode)


def load_model(
    version: int | None, artifacts_dir: Path | None, mode: Mode = "fast"
) -> tuple[ChurnScorer, int]:
    """(scorer, version) of ``churn/<version>`` (the latest when ``None``)."""
    art = load_artifact(MODEL_NAME, version, artifacts_dir)
    return model_of(art, mode), art.version


def score_frame(scorer: ChurnScorer, frame: Any) -> np.ndarray:
    """A pandas DataFrame or an Arrow table/record batch (only the model's columns are read)."""
    return scorer.score_frame(frame)


def score_records(scorer: ChurnScorer, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Records as the API validated them (optional features may be absent)."""
    return scorer.score_records(records)
