"""Flask app factory: routes, uniform JSON errors, and the Celery wiring.

Gunicorn imports ``lab2_flask_celery.wsgi:app``; the Celery worker imports
``lab2_flask_celery.celery_worker``. Both build the app here, from ``LAB2_*`` settings.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from typing import Any

import redis
from celery import Celery, Task
from flask import Flask, current_app, jsonify, request, url_for
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException

from course_models.artifacts import ArtifactError
from lab2_flask_celery.jsonio import NumpyJSONProvider
from lab2_flask_celery.model import ChurnModel, DeadlineExceeded, get_model
from lab2_flask_celery.settings import Settings
from lab2_flask_celery.validation import ValidationFailed, parse_records, validate_record

log = logging.getLogger("lab2")
JOB_KEY = "lab2:job:{}"
# The "global lock" broken variant: one lock for every request of the process.
GLOBAL_MODEL_LOCK = threading.Lock()


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(status: int, code: str, message: str, details: list | None = None):
    body: dict[str, Any] = {"error": code, "message": message}
    if details:
        body["details"] = details
    return jsonify(body), status


def celery_config(s: Settings) -> dict[str, Any]:
    return {
        "broker_url": s.broker,
        "result_backend": s.backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Ack after the task finished: a worker that dies mid-task leaves the message
        # unacked, so it is delivered again instead of being lost.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_track_started": True,  # STARTED (+ worker pid) is visible to GET /jobs/<id>
        "worker_prefetch_multiplier": 1,  # long tasks: do not hoard messages
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_soft_time_limit": s.task_soft_time_limit,
        "task_time_limit": s.task_time_limit,
        "result_expires": s.result_expires,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": s.visibility_timeout,
            "unacked_restore_interval": s.unacked_restore_interval,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": s.redis_timeout,
        },
        # Publishing to a dead broker: give up after ~1 s and let the API answer 503.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 0.5,
        },
        "redis_socket_connect_timeout": s.redis_timeout,
        "redis_socket_timeout": max(s.redis_timeout, 5.0),
        "result_backend_transport_options": {
            "retry_policy": {"max_retries": 3, "interval_start": 0, "interval_step": 0.5}
        },
    }


def celery_init_app(app: Flask) -> Celery:
    """Flask's documented pattern: tasks run inside an app context, config from the app."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def settings() -> Settings:
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
    )


def explain_record(s: Settings, record: dict, deadline: float | None = None) -> dict[str, Any]:
    """The heavy computation, shared by POST /explain and the Celery task."""
    model = model_for(s)
    started = time.perf_counter()
    result = model.explain(record, s.explain_permutations, s.explain_seed, deadline)
    out = result.to_dict()
    out["model"] = {"name": s.model_name, "version": model.version}
    out["elapsed_ms"] = round((time.perf_counter() - started) * 1000.0, 1)
    return out


def _redis(app: Flask) -> redis.Redis:
    client = app.extensions.get("lab2_redis")
    if client is None:
        s = app.config["LAB2_SETTINGS"]
        client = redis.Redis.from_url(
            s.backend, socket_timeout=s.redis_timeout, socket_connect_timeout=s.redis_timeout
        )
        app.extensions["lab2_redis"] = client
    return client


def _json_body() -> Any:
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send JSON with Content-Type: application/json (got {request.mimetype or 'none'!r})",
        )
    data = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc


def _one_record(s: Settings) -> dict:
    body = _json_body()
    problems = validate_record(body, s.model_version)
    if problems:
        raise ValidationFailed(problems)
    return dict(body)


def create_app(overrides: Settings | dict[str, Any] | None = None) -> Flask:
    """Build the app. ``overrides`` (tests) replaces or updates the env-derived settings."""
    s = overrides if isinstance(overrides, Settings) else Settings(**(overrides or {}))
    app = Flask(__name__)
    app.json = NumpyJSONProvider(app)
    app.config.update(
        LAB2_SETTINGS=s,
        MAX_CONTENT_LENGTH=s.max_content_length,
        CELERY=celery_config(s),
    )
    celery_init_app(app)
    from lab2_flask_celery import tasks  # noqa: F401 - registers the shared tasks

    # Load once per process. With gunicorn's preload_app this runs in the master, before
    # fork, so workers share the model's memory pages copy-on-write.
    app.extensions["lab2_model_error"] = None
    if s.variant != "load_per_request":
        try:
            model_for(s)
        except ArtifactError as exc:  # /ready reports it; /predict answers 503
            app.extensions["lab2_model_error"] = exc.to_dict()
            log.error("model not loaded: %s", exc)

    register_errors(app)
    register_routes(app)
    return app


def register_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(ValidationFailed)
    def invalid(exc: ValidationFailed):
        return error_response(422, "validation_error", str(exc), exc.details)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # never Flask's HTML 500 page
        log.exception("unhandled error")
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")


def register_routes(app: Flask) -> None:
    @app.get("/health")
    def health():
        """Liveness: the process answers. ``pid`` shows which worker did."""
        return {"status": "ok", "pid": os.getpid(), "variant": settings().variant}

    @app.get("/ready")
    def ready():
        """Readiness: the model is loaded (or, per-request variant, loadable)."""
        s = settings()
        error = current_app.extensions.get("lab2_model_error")
        if error is None and s.variant == "load_per_request":
            try:
                model_for(s)
            except ArtifactError as exc:
                error = exc.to_dict()
        if error:
            return {"status": "unavailable", "model": error}, 503
        return {"status": "ready", "model": model_for(s).info, "pid": os.getpid()}

    def _model() -> ChurnModel:
        error = current_app.extensions.get("lab2_model_error")
        if error:
            raise ApiError(503, "model_unavailable", error["message"])
        return model_for(settings())

    @app.post("/predict")
    def predict():
        s = settings()
        records, is_batch = parse_records(_json_body(), s.model_version, s.max_batch)
        model = _model()
        if s.variant == "global_lock":
            with GLOBAL_MODEL_LOCK:
                probs = model.predict(records)
        else:
            probs = model.predict(records)
        # probs is a numpy array: the JSON provider turns its float64 values into floats.
        preds = [
            {"churn_probability": p, "label": "churns" if p >= 0.5 else "stays"} for p in probs
        ]
        meta = {"name": s.model_name, "version": model.version}
        if is_batch:
            return {"predictions": preds, "count": len(preds), "model": meta}
        return {"prediction": preds[0], "model": meta}

    @app.post("/explain")
    def explain():
        """The heavy path, synchronously: blocks this worker (or thread) for seconds."""
        s = settings()
        record = _one_record(s)
        _model()
        budget = s.request_budget()
        deadline = time.monotonic() + budget if budget else None
        try:
            if s.variant == "global_lock":
                with GLOBAL_MODEL_LOCK:
                    return explain_record(s, record, deadline)
            return explain_record(s, record, deadline)
        except DeadlineExceeded as exc:
            raise ApiError(
                504,
                "deadline_exceeded",
                f"explain did not finish within {budget:.1f}s (gunicorn timeout "
                f"{s.gunicorn_options()['timeout']}s): {exc}. Submit it to POST /jobs/explain.",
            ) from exc

    @app.post("/jobs/explain")
    def submit_explain():
        from lab2_flask_celery.tasks import explain_task

        s = settings()
        record = _one_record(s)
        job_id = str(uuid.uuid4())
        try:
            # A record of the submission, so an id Redis forgot (restart without
            # persistence, expiry) is reported as unknown rather than "pending" forever.
            _redis(current_app).set(
                JOB_KEY.format(job_id),
                json.dumps({"submitted_at": time.time()}),
                ex=s.result_expires,
            )
            explain_task.apply_async(args=[record], task_id=job_id)
        except (redis.RedisError, OperationalError, OSError) as exc:
            raise ApiError(
                503, "queue_unavailable", f"could not queue the job ({type(exc).__name__}: {exc})"
            ) from exc
        location = url_for("job_status", job_id=job_id)
        body = {"job_id": job_id, "status": "pending", "location": location}
        return body, 202, {"Location": location}

    @app.get("/jobs/<job_id>")
    def job_status(job_id: str):
        try:
            uuid.UUID(job_id)
        except ValueError:
            raise ApiError(404, "unknown_job", f"{job_id!r} is not a job id") from None
        s = settings()
        celery_app = current_app.extensions["celery"]
        try:
            # One read of the result backend (AsyncResult.state + .info would be two).
            meta = celery_app.backend.get_task_meta(job_id)
            state = meta["status"]
            known = state != "PENDING" or _redis(current_app).exists(JOB_KEY.format(job_id))
            info = meta.get("result")
            if state in ("FAILURE", "RETRY", "REVOKED"):
                info = celery_app.backend.exception_to_python(info)
        except (redis.RedisError, OperationalError, OSError) as exc:
            raise ApiError(
                503, "queue_unavailable", f"cannot read job state ({type(exc).__name__}: {exc})"
            ) from exc
        if not known:
            raise ApiError(
                404,
                "unknown_job",
                f"job {job_id} is unknown: never submitted, expired after {s.result_expires}s, "
                "or lost by a Redis restart without persistence",
            )
        body: dict[str, Any] = {"job_id": job_id, "status": state.lower()}
        if state == "SUCCESS":
            body["result"] = info
        elif state in ("FAILURE", "REVOKED"):
            body["status"] = "failure"
            body["error"] = f"{type(info).__name__}: {info}"
        elif state == "RETRY":
            body["status"] = "retrying"
            body["error"] = f"{type(info).__name__}: {info}"
        elif state == "STARTED" and isinstance(info, dict):
            body["worker_pid"] = info.get("pid")
        return body
