"""Lab 1 fixtures. HTTP checks go through ``api``: the service at ``$LAB1_URL`` when set
(``LAB1_URL=http://127.0.0.1:8000 make grade-1`` grades a running service), else the app
in-process behind FastAPI's TestClient (entered as a context manager, so the lifespan runs).
Checks that need to break artifacts or look inside the app always run in-process.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from course_models.tabular import example_record
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
def serve(**overrides: Any) -> Iterator[TestClient]:
    """An in-process app with these settings, started and stopped around the block."""
    with TestClient(create_app(IsolatedSettings(**overrides))) as client:
        yield client


@pytest.fixture(scope="session")
def app_client(trained_artifacts) -> Iterator[TestClient]:
    with serve(artifacts_dir=trained_artifacts) as client:
        yield client


@pytest.fixture(scope="session")
def api(trained_artifacts) -> Iterator[httpx.Client]:
    if LAB1_URL:
        with httpx.Client(base_url=LAB1_URL, timeout=30.0) as client:
            yield client
    else:
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
def make_app():
    """``make_app(**settings)``: an app built from these settings only (not yet started)."""
    return lambda **overrides: create_app(IsolatedSettings(**overrides))


@pytest.fixture(scope="session")
def serve_app():
    """``with serve_app(**settings) as client:`` a fresh in-process app (own lifespan)."""
    return serve
