"""Every knob of lab 2, read from ``LAB2_*`` environment variables.

Flask, Celery and ``gunicorn.conf.py`` all read this one object, so a value such as the
gunicorn timeout is known to the app too (it sizes its own deadline from it), and the task
time limits the web app stamps into each message are the ones the worker enforces.
"""

from __future__ import annotations

import sys
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Variant = Literal["none", "load_per_request", "global_lock", "short_timeout", "single_sync_worker"]
StartMethod = Literal["fork", "spawn", "forkserver"]


def default_start_method() -> StartMethod:
    """fork where it is safe and the default (Linux); spawn on macOS, as Python itself does."""
    return "spawn" if sys.platform == "darwin" else "fork"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB2_", extra="ignore")

    # --- model ---------------------------------------------------------------------------
    model_name: Literal["churn"] = "churn"
    model_version: int = Field(2, ge=1, le=2)
    artifacts_dir: str | None = None
    explain_permutations: int = Field(128, ge=1, le=5000)
    explain_background: int = Field(16, ge=1, le=256)
    explain_seed: int = Field(0, ge=0)
    # "fast": the compiled scorer (course_models.scoring); "pipeline": the sklearn Pipeline,
    # about 5 ms a call, to see the difference yourself.
    scorer: Literal["fast", "pipeline"] = "fast"

    # --- HTTP ----------------------------------------------------------------------------
    max_batch: int = Field(256, ge=1, le=10_000)
    max_content_length: int = Field(1_000_000, ge=1024, le=100_000_000)  # bytes; more -> 413
    # A client still sending an oversized body can only read our 413 if we read (and drop)
    # what it sends; past this many bytes we stop reading and the connection is closed.
    drain_limit: int = Field(64_000_000, ge=0, le=1_000_000_000)
    # Stop a synchronous /explain at this fraction of the gunicorn timeout, answering 504
    # instead of letting gunicorn kill the worker mid-request (which drops the connection).
    deadline_guard: bool = True
    deadline_fraction: float = Field(0.6, gt=0, lt=1)

    # --- Celery + Redis ------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str | None = None  # default: redis_url
    result_backend: str | None = None  # default: redis_url
    result_expires: int = Field(3600, ge=10, le=30 * 86400)  # seconds a result stays in Redis
    task_soft_time_limit: float = Field(120.0, gt=0, le=86400)  # raised inside the task
    task_time_limit: float = Field(150.0, gt=0, le=86400)  # the pool process is killed
    task_max_retries: int = Field(3, ge=0, le=20)
    task_retry_backoff_max: int = Field(30, ge=1, le=3600)
    # Unacked (acks_late) messages return to the queue this many seconds after delivery. It
    # must be longer than the longest task (task_time_limit) or a slow task runs twice, and
    # short enough that a job whose worker died is redelivered soon. Default: time limit + 30.
    visibility_timeout: int | None = Field(None, ge=2, le=86400)
    unacked_restore_interval: int = Field(10, ge=1, le=600)  # how often workers look for them
    # A running task refreshes a heartbeat key every this many seconds (expiry: 3x), so the
    # status API can tell "started" from "started, but its worker is gone".
    heartbeat_interval: float = Field(2.0, gt=0, le=60)
    redis_timeout: float = Field(3.0, gt=0, le=60)  # a dead Redis gives a 503, not a hang
    worker_concurrency: int = Field(1, ge=1, le=64)
    worker_nice: int = Field(10, ge=0, le=19)

    # --- gunicorn (gunicorn.conf.py reads these) -----------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8002, ge=0, le=65535)
    workers: int = Field(2, ge=1, le=64)
    worker_class: Literal["sync", "gthread"] = "gthread"
    threads: int = Field(4, ge=1, le=256)
    timeout: int = Field(30, ge=1, le=3600)
    graceful_timeout: int = Field(20, ge=1, le=3600)
    keepalive: int = Field(5, ge=0, le=3600)
    max_requests: int = Field(1000, ge=0)
    max_requests_jitter: int = Field(100, ge=0)
    preload_app: bool = True
    # prometheus_client's multiprocess mode: one file per worker in this folder, merged on
    # each scrape. None: gunicorn.conf.py makes a fresh temporary one.
    metrics_dir: str | None = None

    # --- GIL demo --------------------------------------------------------------------------
    start_method: StartMethod = Field(default_factory=default_start_method)

    # --- deliberately broken variants (see instructor/lab2.md) ------------------------------
    variant: Variant = "none"

    @model_validator(mode="after")
    def _limits_agree(self) -> Self:
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("task_soft_time_limit must be below task_time_limit")
        if self.visibility_timeout is not None and self.visibility_timeout <= self.task_time_limit:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout}s) must exceed task_time_limit "
                f"({self.task_time_limit}s), or a running task is delivered a second time"
            )
        return self

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def backend(self) -> str:
        return self.result_backend or self.redis_url

    @property
    def effective_visibility_timeout(self) -> int:
        if self.visibility_timeout is not None:
            return self.visibility_timeout
        return int(self.task_time_limit) + 30

    def gunicorn_options(self) -> dict[str, object]:
        """Effective gunicorn settings, after the variant has had its say."""
        opts: dict[str, object] = {
            "workers": self.workers,
            "worker_class": self.worker_class,
            "threads": self.threads,
            "timeout": self.timeout,
        }
        if self.variant == "short_timeout":
            opts.update(worker_class="sync", threads=1, timeout=2)
        elif self.variant == "single_sync_worker":
            opts.update(workers=1, worker_class="sync", threads=1)
        if opts["worker_class"] == "sync":
            opts["threads"] = 1  # gunicorn silently switches to gthread when threads > 1
        return opts

    def request_budget(self) -> float | None:
        """Seconds a synchronous heavy call may run before we answer 504 ourselves."""
        if not self.deadline_guard:
            return None
        return float(self.gunicorn_options()["timeout"]) * self.deadline_fraction
