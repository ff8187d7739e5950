"""Celery tasks. ``@shared_task`` binds to whichever Celery app is current (Flask's pattern).

This module imports the service module only, never the views: the worker needs the model
and the explainer, not the HTTP layer.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.log import get_task_logger

# BEGIN TASK 2.4: what the task needs (the student edition's stub imports only its exception)
from course_models.artifacts import ArtifactNotFound
from lab2_flask_celery.service import current_settings, explain_record

# STUB
# from course_models.tasks import TaskNotImplemented
# END TASK 2.4

log = get_task_logger(__name__)


def stored_result(task: Any) -> dict[str, Any] | None:
    """A redelivered message whose job already succeeded (its ack was lost with the broker
    connection): answer with the stored result instead of computing it a second time."""
    meta = task.backend.get_task_meta(task.request.id)
    return meta["result"] if meta.get("status") == "SUCCESS" else None


# BEGIN TASK 2.4: the Celery task — acks_late, retries with backoff, time limits
@shared_task(
    bind=True,
    name="lab2.explain",
    acks_late=True,  # ack only after the work is done, so a dead worker's job comes back ...
    reject_on_worker_lost=True,  # ... and requeue at once if only the pool process died
    # Transient errors (a model file mid-deploy, a full disk) are retried with exponential
    # backoff (1, 2, 4 ... s, capped) and full jitter; max_retries comes from the settings
    # through the app's task_annotations. Then the job fails with the reason.
    autoretry_for=(OSError, ArtifactNotFound),
    retry_backoff=True,
    retry_backoff_max=30,
    retry_jitter=True,
)
def explain_task(self, record: dict[str, Any]) -> dict[str, Any]:
    s = current_settings()
    if self.request.delivery_info.get("redelivered") and (done := stored_result(self)):
        log.info("explain %s: redelivered, result already stored", self.request.id)
        return done
    from celery.exceptions import SoftTimeLimitExceeded

    try:
        return explain_record(s, record)
    except SoftTimeLimitExceeded as exc:
        # The soft limit fires inside the task: fail with a message, not a killed process.
        raise RuntimeError(
            f"explain exceeded the soft time limit of {s.task_soft_time_limit}s"
        ) from exc


# STUB
# @shared_task(bind=True, name="lab2.explain")
# def explain_task(self, record: dict[str, Any]) -> dict[str, Any]:
#     raise TaskNotImplemented("2.4", "the Celery task explain_task (tasks.py)")
# END TASK 2.4
