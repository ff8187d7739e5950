"""Celery wiring and the small records the job API keeps in Redis next to Celery's own.

Shared by the web app (submit, poll) and the worker (heartbeats); imports neither of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from typing import Any

import redis
from celery import Celery, Task
from celery.exceptions import BackendError
from flask import Flask, current_app
from kombu.exceptions import OperationalError

from lab2_flask_celery.settings import Settings

JOB_KEY = "lab2:job:{}"
HEARTBEAT_KEY = "lab2:heartbeat:{}"
QUEUE = "celery"  # Celery's default queue: a Redis list of waiting messages
REDIS_ERRORS = (redis.RedisError, OperationalError, BackendError, OSError)


def celery_config(s: Settings) -> dict[str, Any]:
    """Broker and worker settings; the task's own options (acks_late ...) live on the task."""
    return {
        "broker_url": s.broker,
        "result_backend": s.backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_track_started": True,  # STARTED (+ worker pid) is visible to GET /jobs/<id>
        "worker_prefetch_multiplier": 1,  # long tasks: do not hoard messages
        # On a broker connection loss, let running acks_late tasks finish: their message
        # stays unacked in Redis (append-only file) and is redelivered after the visibility
        # timeout; the task is idempotent (it reuses a stored result). Cancelling them
        # instead records a false "revoked" failure (the Redis-restart experiment).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_soft_time_limit": s.task_soft_time_limit,
        "task_time_limit": s.task_time_limit,
        "task_annotations": {"lab2.explain": {"max_retries": s.task_max_retries}},
        "result_expires": s.result_expires,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a restarted Redis is waited for, forever
        "broker_transport_options": {
            "visibility_timeout": s.effective_visibility_timeout,
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


def redis_client(app: Flask | None = None) -> redis.Redis:
    """One client per app (its own connection pool), built on first use."""
    app = app or current_app
    client = app.extensions.get("lab2_redis")
    if client is None:
        s: Settings = app.config["LAB2_SETTINGS"]
        client = redis.Redis.from_url(
            s.backend, socket_timeout=s.redis_timeout, socket_connect_timeout=s.redis_timeout
        )
        app.extensions["lab2_redis"] = client
    return client


def record_submission(job_id: str, s: Settings) -> None:
    """So an id Redis forgot (restart without persistence, expiry) is reported as unknown
    rather than Celery's eternal "pending"."""
    redis_client().set(
        JOB_KEY.format(job_id), json.dumps({"submitted_at": time.time()}), ex=s.result_expires
    )


def is_submitted(job_id: str) -> bool:
    return bool(redis_client().exists(JOB_KEY.format(job_id)))


def worker_alive(job_id: str) -> bool:
    """A running task refreshes its heartbeat; a missing one means its worker is gone."""
    return bool(redis_client().exists(HEARTBEAT_KEY.format(job_id)))


def queue_depth(app: Flask) -> int:
    """Messages waiting in the Celery queue (not those already delivered to a worker)."""
    return int(redis_client(app).llen(QUEUE))


class Heartbeats:
    """While a task runs, a thread refreshes ``lab2:heartbeat:<id>`` (expiring after three
    intervals), so the status API can tell a running job from one whose worker died.

    Started from Celery's ``task_prerun`` signal, which fires before the STARTED state is
    stored, so no poll ever sees "started" without a beat. Pure-Python work holds the GIL,
    but CPython switches threads every 5 ms, so the beat goes on.
    """

    def __init__(self) -> None:
        self.running: dict[str, tuple[threading.Event, threading.Thread]] = {}

    def start(self, job_id: str, client: redis.Redis, interval: float) -> None:
        key, stop = HEARTBEAT_KEY.format(job_id), threading.Event()
        ttl_ms = int(interval * 3000)

        def beat() -> None:
            while not stop.is_set():
                with contextlib.suppress(*REDIS_ERRORS):
                    client.set(key, os.getpid(), px=ttl_ms)
                stop.wait(interval)

        with contextlib.suppress(*REDIS_ERRORS):
            client.set(key, os.getpid(), px=ttl_ms)
        thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
        self.running[job_id] = (stop, thread)
        thread.start()

    def stop(self, job_id: str, client: redis.Redis) -> None:
        stop, thread = self.running.pop(job_id, (None, None))
        if stop is None or thread is None:
            return
        stop.set()
        thread.join(5)
        with contextlib.suppress(*REDIS_ERRORS):
            client.delete(HEARTBEAT_KEY.format(job_id))
