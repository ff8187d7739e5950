"""Lab 1 fixtures. Graded HTTP checks go through ``api``: the service at ``$LAB1_URL`` when set
(``LAB1_URL=http://127.0.0.1:8000 make grade-1`` grades a running service), else a real uvicorn
started once per session with the lab's own command line (``lab1_fastapi.server.command``).
Checks that need other settings or broken artifacts start their own app (``serve_app``):
in-process (FastAPI's TestClient, entered as a context manager so the lifespan runs) in a plain
test run, a real uvicorn in the submission's sandbox when grading one (``course_grading.sandbox``:
the same HTTP client interface, the student's code never in the grader's process).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from course_grading import sandbox
from course_models import procs
from course_models.tabular import example_record
from lab1_fastapi import server
from lab1_fastapi.app import create_app
from lab1_fastapi.settings import Settings

with warnings.catch_warnings():
    # starlette 1.x prefers the httpx2 package; the course pins httpx, which still works.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

LAB1_URL = os.environ.get("LAB1_URL", "").rstrip("/")


class IsolatedSettings(Settings):
    """Settings from arguments only: a grader's LAB1_* variables must not change the tests."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *args, **kwargs):
        return (init_settings,)


@contextmanager
def serve(**overrides: Any) -> Iterator[httpx.Client]:
    """An app with these settings, started and stopped around the block: in-process, or when
    grading a submission a real uvicorn in its sandbox (same client calls either way)."""
    if sandbox.active() is None:
        with TestClient(create_app(IsolatedSettings(**overrides))) as client:
            yield client
        return
    fd, log = tempfile.mkstemp(prefix="lab1-serve-", suffix=".log")
    os.close(fd)
    try:
        with (
            uvicorn_server(Path(log), **overrides) as (url, _),
            httpx.Client(base_url=url, timeout=30.0) as client,
        ):
            yield client
    finally:
        os.unlink(log)


@contextmanager
def uvicorn_server(log: Path, **overrides: Any) -> Iterator[tuple[str, Any]]:
    """A real uvicorn on a free port, started exactly as ``make lab-1`` starts it."""
    settings = IsolatedSettings(access_log=False, **overrides)
    argv, env = server.command(settings, procs.free_port())
    url = f"http://127.0.0.1:{env['LAB1_PORT']}"
    if settings.artifacts_dir is not None:
        sandbox.share(settings.artifacts_dir)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAB1_")}
    argv, env = sandbox.command(argv, {**clean, **env})
    with procs.running(argv, env={**clean, **env}, log=log) as proc:
        timeout = sandbox.startup_timeout(120)
        try:
            # /health, not /ready: a student edition without task 1.1 must still be graded.
            sandbox.started(
                "uvicorn",
                lambda: procs.wait_http(f"{url}/health", timeout=timeout, proc=proc),
            )
        except Exception:
            print(procs.tail(log))
            raise
        yield url, proc


@pytest.fixture(scope="session")
def start_server() -> Callable[..., Any]:
    """``with start_server(log, **settings) as (url, proc):`` a real uvicorn of the lab."""
    return uvicorn_server


@pytest.fixture(scope="session")
def lab_url(trained_artifacts, tmp_path_factory) -> Iterator[str]:
    """Base URL of the service under test (``$LAB1_URL``, else one started for the session)."""
    if LAB1_URL:
        yield LAB1_URL
        return
    log = tmp_path_factory.mktemp("lab1-server") / "uvicorn.log"
    with uvicorn_server(log, artifacts_dir=trained_artifacts) as (url, _):
        yield url


@pytest.fixture(scope="session")
def api(lab_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lab_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="session")
def app_client(trained_artifacts) -> Iterator[TestClient]:
    with serve(artifacts_dir=trained_artifacts) as client:
        yield client


@pytest.fixture
def record_v1() -> dict[str, Any]:
    return example_record(1)


@pytest.fixture
def record_v2() -> dict[str, Any]:
    return example_record(2)


@pytest.fixture
def artifacts_copy(trained_artifacts, tmp_path) -> Path:
    """A private copy of the churn artifacts that a test may break."""
    root = tmp_path / "artifacts"
    shutil.copytree(trained_artifacts / "churn", root / "churn")
    return root


@pytest.fixture(scope="session")
def make_app() -> Callable[..., Any]:
    """``make_app(**settings)``: an app built from these settings only (not yet started)."""
    return lambda **overrides: create_app(IsolatedSettings(**overrides))


@pytest.fixture(scope="session")
def serve_app() -> Callable[..., Any]:
    """``with serve_app(**settings) as client:`` a fresh in-process app (own lifespan)."""
    return serve
