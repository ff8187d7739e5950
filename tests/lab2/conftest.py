"""Lab 2 fixtures: a Flask test client, real redis-server / Celery / gunicorn processes on free
ports (``lab2_flask_celery.services.Stack``, always stopped, even when a test fails), and the
service the graded specifications talk to: ``LAB2_URL`` when set, else one started from the
code under test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from course_models.procs import free_port
from course_models.tabular import example_record
from lab2_flask_celery.app import create_app
from lab2_flask_celery.services import Stack

# Small and fast for unit tests; integration tests raise it where they need a slow task.
FAST = {"explain_permutations": 6, "explain_background": 4}
FAST_ENV = {
    "LAB2_EXPLAIN_PERMUTATIONS": "6",
    "LAB2_EXPLAIN_BACKGROUND": "4",
    # Redeliver an unacked job soon after its delivery (above the task time limit).
    "LAB2_TASK_SOFT_TIME_LIMIT": "12",
    "LAB2_TASK_TIME_LIMIT": "15",
    "LAB2_VISIBILITY_TIMEOUT": "16",
    "LAB2_UNACKED_RESTORE_INTERVAL": "1",
    "LAB2_HEARTBEAT_INTERVAL": "0.5",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "task(id): the assignment task a graded check belongs to")


@pytest.fixture(scope="session")
def record(trained_artifacts) -> dict:
    return example_record(2)


@pytest.fixture(scope="session")
def app(trained_artifacts):
    return create_app({**FAST, "redis_url": f"redis://127.0.0.1:{free_port()}/0"})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def stack(tmp_path, trained_artifacts, request) -> Iterator[Stack]:
    s = Stack(tmp_path, **FAST_ENV)
    try:
        yield s
    finally:
        s.close()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(s.dump_logs())


@pytest.fixture(scope="session")
def lab2_url(tmp_path_factory, trained_artifacts) -> Iterator[str]:
    """The service under test: ``LAB2_URL`` (a running lab), else redis + a Celery worker +
    gunicorn started from the code in this checkout."""
    given = os.environ.get("LAB2_URL")
    if given:
        yield given.rstrip("/")
        return
    s = Stack(tmp_path_factory.mktemp("lab2-service"), **FAST_ENV)
    try:
        s.start_redis()
        s.start_worker()
        _, base = s.start_gunicorn()
        yield base
    finally:
        s.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
