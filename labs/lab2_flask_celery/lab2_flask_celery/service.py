"""The logic the HTTP views and the Celery task share: settings, the model, scoring, explaining.

It imports nothing from the views or the tasks, so the worker never reaches into the web
module and the web module never into the worker (Flask's Celery example has the same shape).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app

from course_models.contract import label_for
from lab2_flask_celery.model import ChurnModel, get_model
from lab2_flask_celery.settings import Settings

# The "global lock" broken variant: one lock for every request of the process.
GLOBAL_MODEL_LOCK = threading.Lock()


def current_settings() -> Settings:
    """The settings of the app serving this request or running this task."""
    return current_app.config["LAB2_SETTINGS"]


def model_for(s: Settings) -> ChurnModel:
    """The process's model, or a fresh load every call in the per-request variant."""
    return get_model(
        s.model_name,
        s.model_version,
        s.artifacts_dir,
        s.explain_background,
        s.explain_seed,
        cached=s.variant != "load_per_request",
        scorer=s.scorer,
    )


def _serialised(s: Settings):
    return GLOBAL_MODEL_LOCK if s.variant == "global_lock" else _NoLock()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def predict(s: Settings, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """P(churns) and the label for each validated record."""
    model = model_for(s)
    with _serialised(s):
        probs = model.predict(records)
    return [{"churn_probability": float(p), "label": label_for(p)} for p in probs]


def model_meta(s: Settings) -> dict[str, Any]:
    return {"name": s.model_name, "version": s.model_version}


def explain_record(s: Settings, record: dict, deadline: float | None = None) -> dict[str, Any]:
    """The heavy computation, shared by POST /explain and the Celery task."""
    model = model_for(s)
    started = time.perf_counter()
    with _serialised(s):
        result = model.explain(record, s.explain_permutations, s.explain_seed, deadline)
    out = result.to_dict()
    out["model"] = {"name": s.model_name, "version": model.version}
    out["elapsed_ms"] = round((time.perf_counter() - started) * 1000.0, 1)
    out["pid"] = os.getpid()
    return out
