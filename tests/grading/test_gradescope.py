"""The Gradescope bundle, run the way Gradescope runs it: ``run_autograder`` in a layout like
``/autograder`` (``source/``, ``submission/``, ``results/``) under a temporary root, on the
stub-only edition of lab 1 uploaded without its git history."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course_grading import gradescope, release
from course_models.artifacts import artifacts_root

REPO = Path(__file__).resolve().parents[2]


def test_results_follow_gradescopes_format():
    data = {
        "total": 2,
        "max": 3,
        "seconds": 3.4,
        "lab": "lab9",
        "checks": [
            {"name": "tests/lab9/test_a.py::test_x", "points": 2, "passed": True, "task": "9.1"},
            {
                "name": "tests/lab9/hidden/test_h.py::test_y",
                "points": 1,
                "passed": False,
                "message": "assert 1 == 2",
                "task": "9.1",
            },
            {"name": "tests/lab9/test_a.py::test_internal", "points": 0, "passed": True},
        ],
    }
    doc = gradescope.results(data)
    assert doc["score"] == 2 and doc["execution_time"] == 3
    assert [(t["name"], t["score"], t["max_score"], t["visibility"]) for t in doc["tests"]] == [
        ("lab9/test_a.py::test_x", 2, 2, "visible"),
        ("lab9/hidden/test_h.py::test_y", 0, 1, "after_published"),
    ]
    assert doc["tests"][1]["output"] == "assert 1 == 2"
    assert doc["tests"][1]["status"] == "failed"


@pytest.mark.slow
@pytest.mark.integration
def test_run_autograder_in_a_gradescope_layout(tmp_path):
    root = tmp_path / "autograder"
    archive = gradescope.bundle(REPO, 1, root)
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
    assert {"setup.sh", "run_autograder", "source/tests/lab1/hidden/test_hidden_lab1.py"} <= names
    release.build(REPO, root / "submission", git=False)
    shutil.rmtree(root / "submission" / "tests")  # what a student uploads need not hold them
    env = {
        **os.environ,
        "AUTOGRADER_ROOT": str(root),
        "PYTHON": sys.executable,
        "COURSE_ARTIFACTS_DIR": str(artifacts_root()),  # setup.sh trains them on Gradescope
    }
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((root / "results" / "results.json").read_text())
    print(doc["output"])
    # the fresh edition: its stubs earn at most the acceptance share (2 of 49 today)
    assert doc["tests"] and doc["score"] <= 0.15 * 49, doc["output"]
    assert doc["score"] == sum(t["score"] for t in doc["tests"])
    assert all(0 <= t["score"] <= t["max_score"] and t["max_score"] > 0 for t in doc["tests"])
    assert any(t["visibility"] == "after_published" for t in doc["tests"])
    assert sum(t["max_score"] for t in doc["tests"]) == 49
    assert "bwrap (uid" in doc["output"]
