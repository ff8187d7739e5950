"""The one place lab 5 turns features into P(churns): real time and batch both call it.

Keeping a single seam is what makes the two modes agree to the last bit (a test checks it), and
lets the scoring engine change (sklearn pipeline today, a compiled scorer tomorrow) in one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from course_models.artifacts import LoadedArtifact, load_artifact
from course_models.tabular import predict_proba, records_to_frame
from lab5_batch_vs_realtime.settings import MODEL_NAME


def model_of(artifact: LoadedArtifact) -> Any:
    """What ``score_*`` needs from a loaded artifact."""
    return artifact.model


def load_model(version: int | None, artifacts_dir: Path | None) -> tuple[Any, int]:
    """(model, version) of ``churn/<version>`` (the latest when ``None``)."""
    art = load_artifact(MODEL_NAME, version, artifacts_dir)
    return model_of(art), art.version


def score_frame(model: Any, frame: pd.DataFrame, version: int) -> np.ndarray:
    return predict_proba(model, frame, version)


def score_records(model: Any, records: Sequence[Mapping[str, Any]], version: int) -> np.ndarray:
    return score_frame(model, records_to_frame(records, version), version)
