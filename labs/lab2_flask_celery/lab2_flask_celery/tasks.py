"""Celery tasks. ``@shared_task`` binds to whichever Celery app is current (Flask's pattern)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.log import get_task_logger

from course_models.artifacts import ArtifactNotFound

log = get_task_logger(__name__)


@shared_task(
    bind=True,
    name="lab2.explain",
    acks_late=True,  # ack only after the work is done ...
    reject_on_worker_lost=True,  # ... and requeue if the pool process running it dies
)
def explain_task(self, record: dict[str, Any]) -> dict[str, Any]:
    from lab2_flask_celery.app import explain_record, settings

    s = settings()
    try:
        return explain_record(s, record)
    except (OSError, ArtifactNotFound) as exc:
        # Transient (a model file mid-deploy, a full disk): retry with exponential backoff.
        countdown = min(30, 2**self.request.retries)
        log.warning("explain %s: %s, retry in %ss", self.request.id, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=s.task_max_retries) from exc
    except SoftTimeLimitExceeded as exc:
        # The soft limit fires inside the task: fail with a message, not a killed process.
        raise RuntimeError(
            f"explain exceeded the soft time limit of {s.task_soft_time_limit}s"
        ) from exc
