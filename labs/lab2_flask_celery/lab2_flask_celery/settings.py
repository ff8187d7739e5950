"""Every knob of lab 2, read from ``LAB2_*`` environment variables.

Flask, Celery and ``gunicorn.conf.py`` all read this one object, so a value such as the
gunicorn timeout is known to the app too (it sizes its own deadline from it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Variant = Literal["none", "load_per_request", "global_lock", "short_timeout", "single_sync_worker"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB2_", extra="ignore")

    # --- model ---------------------------------------------------------------------------
    model_name: str = "churn"
    model_version: int = Field(2, ge=1, le=2)
    artifacts_dir: str | None = None
    explain_permutations: int = Field(128, ge=1, le=5000)
    explain_background: int = Field(16, ge=1, le=256)
    explain_seed: int = 0

    # --- HTTP ----------------------------------------------------------------------------
    max_batch: int = Field(256, ge=1)
    max_content_length: int = Field(1_000_000, ge=1024)  # bytes; larger bodies get a 413
    # Stop a synchronous /explain at this fraction of the gunicorn timeout, answering 504
    # instead of letting gunicorn kill the worker mid-request (which drops the connection).
    deadline_guard: bool = True
    deadline_fraction: float = Field(0.6, gt=0, lt=1)

    # --- Celery + Redis ------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str | None = None  # default: redis_url
    result_backend: str | None = None  # default: redis_url
    result_expires: int = 3600  # seconds a finished job's result stays in Redis
    task_soft_time_limit: float = 120.0  # SoftTimeLimitExceeded raised inside the task
    task_time_limit: float = 150.0  # the pool process is killed
    task_max_retries: int = 3
    # Unacked (acks_late) messages return to the queue after this many seconds: it must be
    # longer than the longest task, or a slow task runs twice.
    visibility_timeout: int = 3600
    unacked_restore_interval: int = 10  # how often a worker looks for such messages
    redis_timeout: float = 3.0  # socket timeouts: a dead Redis gives a 503, not a hang

    # --- gunicorn (gunicorn.conf.py reads these) -----------------------------------------
    host: str = "127.0.0.1"
    port: int = 8002
    workers: int = Field(2, ge=1)
    worker_class: Literal["sync", "gthread"] = "gthread"
    threads: int = Field(4, ge=1)
    timeout: int = Field(30, ge=1)
    graceful_timeout: int = Field(20, ge=1)
    keepalive: int = Field(5, ge=0)
    max_requests: int = Field(1000, ge=0)
    max_requests_jitter: int = Field(100, ge=0)
    preload_app: bool = True

    # --- deliberately broken variants (see the README's instructor notes) -----------------
    variant: Variant = "none"

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def backend(self) -> str:
        return self.result_backend or self.redis_url

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
