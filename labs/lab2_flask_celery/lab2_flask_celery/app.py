"""Flask app factory. Gunicorn imports ``lab2_flask_celery.wsgi:app``; the Celery worker
imports ``lab2_flask_celery.celery_worker``. Both build the app here, from ``LAB2_*`` settings.

The factory only wires parts together: routes (``views``), errors (``errors``), Celery
(``jobs``), metrics (``metrics``); the logic is in ``service``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, Response

from course_models.artifacts import ArtifactError
from lab2_flask_celery import views
from lab2_flask_celery.errors import register_errors, register_task_stubs
from lab2_flask_celery.jobs import celery_config, celery_init_app
from lab2_flask_celery.jsonio import NumpyJSONProvider
from lab2_flask_celery.metrics import init_metrics
from lab2_flask_celery.service import model_for
from lab2_flask_celery.settings import Settings

log = logging.getLogger("lab2")


def load_model(app: Flask, s: Settings) -> None:
    """Load once per process. With gunicorn's preload_app this runs in the master, before
    fork, so workers share the model's memory pages copy-on-write."""
    app.extensions["lab2_model_error"] = None
    if s.variant == "load_per_request":
        return
    try:
        model_for(s)
    except ArtifactError as exc:  # /ready reports it; /predict answers 503
        app.extensions["lab2_model_error"] = exc.to_dict()
        log.error("model not loaded: %s", exc)


def create_app(overrides: Settings | dict[str, Any] | None = None) -> Flask:
    """Build the app. ``overrides`` (tests) replaces or updates the env-derived settings."""
    s = overrides if isinstance(overrides, Settings) else Settings(**(overrides or {}))
    app = Flask(__name__)
    app.json = NumpyJSONProvider(app)
    app.config.update(LAB2_SETTINGS=s, CELERY=celery_config(s))
    celery_init_app(app)
    from lab2_flask_celery import tasks  # noqa: F401 - registers the shared tasks

    load_model(app, s)
    register_task_stubs(app)
    register_errors(app)
    init_metrics(app)
    app.register_blueprint(views.bp)

    @app.after_request
    def _which_worker(response: Response) -> Response:
        response.headers["X-Worker-Pid"] = str(os.getpid())
        return response

    return app
