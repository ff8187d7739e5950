"""The HTTP routes of lab 2, in one blueprint. Every handler is small: the work is in
``service`` (model, scoring, explaining) and ``jobs`` (Celery, Redis records)."""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Blueprint, current_app

from course_models.artifacts import ArtifactError
from lab2_flask_celery import jobs
from lab2_flask_celery.body import json_body
from lab2_flask_celery.errors import ApiError
from lab2_flask_celery.model import DeadlineExceeded
from lab2_flask_celery.service import current_settings, explain_record, model_for
from lab2_flask_celery.validation import one_record

bp = Blueprint("lab2", __name__)


@bp.get("/health")
def health():
    """Liveness: the process answers. ``pid`` shows which worker did."""
    return {"status": "ok", "pid": os.getpid(), "variant": current_settings().variant}


def model_error() -> dict | None:
    """Why the model cannot answer (None when it can); the per-request variant tries a load."""
    s = current_settings()
    error = current_app.extensions.get("lab2_model_error")
    if error is None and s.variant == "load_per_request":
        try:
            model_for(s)
        except ArtifactError as exc:
            error = exc.to_dict()
    return error


def require_model() -> None:
    error = current_app.extensions.get("lab2_model_error")
    if error:
        raise ApiError(503, "model_unavailable", error["message"])


@bp.get("/ready")
def ready():
    """Readiness: the model is loaded (or, per-request variant, loadable)."""
    error = model_error()
    if error:
        return {"status": "unavailable", "model": error}, 503
    return {"status": "ready", "model": model_for(current_settings()).info, "pid": os.getpid()}


@bp.post("/predict")
def predict_route():
    # BEGIN TASK 2.2: POST /predict — one record or {"records": [...]}, through the contract
    # (Imported here, not at the top: the student edition's stub has no use for them.)
    from lab2_flask_celery.service import model_meta, predict
    from lab2_flask_celery.validation import parse_records

    s = current_settings()
    records, is_batch = parse_records(json_body(s), s.model_version, s.max_batch)
    require_model()
    preds = predict(s, records)
    if is_batch:
        return {"predictions": preds, "count": len(preds), "model": model_meta(s)}
    return {"prediction": preds[0], "model": model_meta(s)}
    # STUB
    # from course_models.tasks import TaskNotImplemented
    #
    # raise TaskNotImplemented("2.2", "POST /predict (views.py)")
    # END TASK 2.2


@bp.post("/explain")
def explain():
    """The heavy path, synchronously: blocks this worker (or thread) for seconds."""
    s = current_settings()
    record = one_record(json_body(s), s.model_version)
    require_model()
    budget = s.request_budget()
    deadline = time.monotonic() + budget if budget else None
    try:
        return explain_record(s, record, deadline)
    except DeadlineExceeded as exc:
        raise ApiError(
            504,
            "deadline_exceeded",
            f"explain did not finish within {budget:.1f}s (gunicorn timeout "
            f"{s.gunicorn_options()['timeout']}s): {exc}. Submit it to POST /jobs/explain.",
        ) from exc


def queue_unavailable(exc: Exception, doing: str) -> ApiError:
    return ApiError(503, "queue_unavailable", f"{doing} ({type(exc).__name__}: {exc})")


@bp.post("/jobs/explain")
def submit_explain():
    # BEGIN TASK 2.5: the job API — 202 + Location, then GET /jobs/<id> to poll
    import uuid

    from flask import url_for

    from lab2_flask_celery.tasks import explain_task

    s = current_settings()
    record = one_record(json_body(s), s.model_version)
    job_id = str(uuid.uuid4())
    try:
        jobs.record_submission(job_id, s)
        explain_task.apply_async(args=[record], task_id=job_id)
    except jobs.REDIS_ERRORS as exc:
        raise queue_unavailable(exc, "could not queue the job") from exc
    location = url_for("lab2.job_status", job_id=job_id)
    body = {"job_id": job_id, "status": "pending", "location": location}
    return body, 202, {"Location": location}
    # STUB
    # from course_models.tasks import TaskNotImplemented
    #
    # raise TaskNotImplemented("2.5", "POST /jobs/explain (views.py)")
    # END TASK 2.5


def job_body(job_id: str, meta: dict[str, Any], backend: Any) -> dict[str, Any]:
    """Celery's task meta -> the API's answer (lower-case states, errors as text)."""
    state, info = meta["status"], meta.get("result")
    body: dict[str, Any] = {"job_id": job_id, "status": state.lower()}
    if state == "SUCCESS":
        body["result"] = info
    elif state in ("FAILURE", "REVOKED", "RETRY"):
        exc = backend.exception_to_python(info)
        body["status"] = "retrying" if state == "RETRY" else "failure"
        body["error"] = f"{type(exc).__name__}: {exc}"
    elif state == "STARTED" and isinstance(info, dict):
        body["worker_pid"] = info.get("pid")
        alive = jobs.worker_alive(job_id)
        body["worker_alive"] = alive
        if not alive:
            s = current_settings()
            body["note"] = (
                "the worker running this job stopped sending heartbeats (it died); the job is "
                f"delivered again at most {s.effective_visibility_timeout}s after it started"
            )
    return body


@bp.get("/jobs/<job_id>")
def job_status(job_id: str):
    # BEGIN TASK 2.5: the job API — 202 + Location, then GET /jobs/<id> to poll
    import uuid

    try:
        uuid.UUID(job_id)
    except ValueError:
        raise ApiError(404, "unknown_job", f"{job_id!r} is not a job id") from None
    s = current_settings()
    backend = current_app.extensions["celery"].backend
    try:
        meta = backend.get_task_meta(job_id)  # one read (AsyncResult.state + .info: two)
        if meta["status"] == "PENDING" and not jobs.is_submitted(job_id):
            raise ApiError(
                404,
                "unknown_job",
                f"job {job_id} is unknown: never submitted, expired after {s.result_expires}s,"
                " or lost by a Redis restart without persistence",
            )
        return job_body(job_id, meta, backend)
    except jobs.REDIS_ERRORS as exc:
        raise queue_unavailable(exc, "cannot read job state") from exc
    # STUB
    # from course_models.tasks import TaskNotImplemented
    #
    # raise TaskNotImplemented("2.5", "GET /jobs/<job_id> (views.py)")
    # END TASK 2.5
