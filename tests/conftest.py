"""Fixtures every lab's tests may use. Lab-specific fixtures live in tests/labN/conftest.py."""

from __future__ import annotations

import pytest

from course_models.artifacts import artifacts_root, list_versions


@pytest.fixture(scope="session")
def trained_artifacts():
    """The artifacts folder `make train` filled; fails (never skips) when it was not run."""
    root = artifacts_root()
    missing = [n for n in ("churn", "digits_cnn", "digits_keras") if not list_versions(n, root)]
    assert not missing, f"models {missing} not trained under {root}: run `make train`"
    return root
