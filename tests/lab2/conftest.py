"""Lab 2 fixtures: a Flask test client, and real redis-server / Celery / gunicorn processes
on free ports, each in its own process group and always stopped, even when a test fails."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from course_models.procs import free_port, stop, tail
from course_models.tabular import example_record
from lab2_flask_celery.app import create_app
from lab2_flask_celery.services import start_gunicorn, start_redis, start_worker

# Small and fast for unit tests; integration tests raise it where they need a slow task.
FAST = {"explain_permutations": 6, "explain_background": 4}


@pytest.fixture(scope="session")
def record(trained_artifacts) -> dict:
    return example_record(2)


@pytest.fixture(scope="session")
def app(trained_artifacts):
    return create_app({**FAST, "redis_url": f"redis://127.0.0.1:{free_port()}/0"})


@pytest.fixture
def client(app):
    return app.test_client()


class Stack:
    """The processes of one test; ``env`` is what every child process sees."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.redis_port = free_port()
        self.redis_dir = tmp / "redis"
        self.env: dict[str, str] = {
            "LAB2_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "LAB2_EXPLAIN_PERMUTATIONS": str(FAST["explain_permutations"]),
            "LAB2_EXPLAIN_BACKGROUND": str(FAST["explain_background"]),
            # Redeliver an unacked job 5 s after its delivery, checking every second.
            "LAB2_VISIBILITY_TIMEOUT": "5",
            "LAB2_UNACKED_RESTORE_INTERVAL": "1",
        }
        self.procs: list = []
        self.logs: list[Path] = []
        self.redis = None

    def settings(self, **extra) -> dict:
        """The same configuration as ``env``, for an in-process create_app()."""
        out = {k.removeprefix("LAB2_").lower(): v for k, v in self.env.items()}
        return {**out, **extra}

    def start_redis(self, persist: bool = False):
        self.redis = start_redis(self.redis_port, self.redis_dir, persist=persist)
        self.procs.append(self.redis)
        return self.redis

    def stop_redis(self) -> None:
        stop(self.redis)

    def start_worker(self, name: str = "worker", **env):
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        proc = start_worker({**self.env, **env}, log)
        self.procs.append(proc)
        return proc

    def start_gunicorn(self, name: str = "gunicorn", **env):
        port = free_port()
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        proc = start_gunicorn({**self.env, **env}, port, log)
        self.procs.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    def kill_group(self, proc) -> None:
        """SIGKILL a process and all its children: no chance to clean up or requeue."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)

    def dump_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{tail(p, 30)}" for p in self.logs)


@pytest.fixture
def stack(tmp_path, trained_artifacts, request) -> Iterator[Stack]:
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.close()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(s.dump_logs())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
