"""Fixtures the shared-package tests have in common."""

import pytest

from course_models.train import select, train_one


@pytest.fixture(scope="module")
def churn_root(tmp_path_factory):
    """A private artifacts folder with freshly trained churn models, so tests that corrupt or
    tamper with files never touch the shared one."""
    root = tmp_path_factory.mktemp("artifacts")
    for spec in select(["churn"]):
        train_one(spec, root, seed=42)
    return root
