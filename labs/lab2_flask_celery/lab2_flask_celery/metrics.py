"""``GET /metrics`` for Prometheus, correct under gunicorn's several worker processes.

Each gunicorn worker is its own process with its own counters; a scrape lands on one of them.
prometheus_client's multiprocess mode has every process write its samples to files in
``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py sets it before anything imports
prometheus_client) and merges them at scrape time. Without that folder (the Flask test
client, ``flask run``) the app's own registry is served. The queue depth is read from Redis
at scrape time: it is one number for the whole service, not a per-process sample.
"""

from __future__ import annotations

import math
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from lab2_flask_celery import jobs
from lab2_flask_celery.settings import Settings

bp = Blueprint("metrics", __name__)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """The app's instruments, in a registry of its own (two apps in one test never clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lab2_requests",
            "HTTP requests answered, by route and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "lab2_request_seconds",
            "HTTP request duration in seconds, by route",
            ["endpoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )


class QueueDepth:
    """A collector asked at each scrape: LLEN of the Celery queue in Redis (NaN if down)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        try:
            depth: float = jobs.queue_depth(self.app)
        except jobs.REDIS_ERRORS:
            depth = math.nan
        yield GaugeMetricFamily(
            "lab2_queue_depth", "Jobs waiting in the Celery queue in Redis", value=depth
        )


def _endpoint() -> str:
    """The route's rule (``/jobs/<job_id>``), never the raw path: ids would explode the series."""
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def init_metrics(app: Flask) -> None:
    metrics = Metrics()
    app.extensions["lab2_metrics"] = metrics

    @app.before_request
    def _start_timer() -> None:
        g.lab2_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.pop("lab2_started", None)
        endpoint = _endpoint()
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        if started is not None:
            metrics.seconds.labels(endpoint).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


@bp.get("/metrics")
def scrape():
    s: Settings = current_app.config["LAB2_SETTINGS"]
    if s.metrics_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=s.metrics_dir)
    else:
        registry = current_app.extensions["lab2_metrics"].registry
    registry_with_queue = CollectorRegistry()
    registry_with_queue.register(QueueDepth(current_app))
    body = generate_latest(registry) + generate_latest(registry_with_queue)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
