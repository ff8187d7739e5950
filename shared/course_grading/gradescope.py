"""A Gradescope autograder bundle for one lab, and its ``results/results.json``.

``python -m course_grading gradescope N`` writes ``artifacts/gradescope/labN/`` and
``labN-autograder.zip``: ``setup.sh`` (run once when Gradescope builds the image: system packages,
the pinned venv, the trained models, the grading uid), ``run_autograder`` (run per submission),
and ``source/``, this repository's tracked files (checks, hidden checks, plugin).
``run_autograder`` grades ``/autograder/submission`` with ``grade`` (the submission's code in
the sandbox under the unprivileged grading uid, never as root next to ``source/``) and writes
Gradescope's format: one entry per graded check with ``name``, ``score``, ``max_score``,
``status``, ``output`` (the first failure line) and ``visibility`` (``hidden`` for
``tests/labN/hidden/``: the student sees the check only after the grades are published).
``AUTOGRADER_ROOT`` (default ``/autograder``) lets the same script run in a test layout.
"""

from __future__ import annotations

import json
import shutil
import stat
import zipfile
from pathlib import Path
from typing import Any

from course_grading import grade
from course_grading.release import tracked_files

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
set -euo pipefail
cd /autograder/source
apt-get update -q
apt-get install -y -q bubblewrap git python3.11 python3.11-venv util-linux
python3.11 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
.venv/bin/pip install -q -c constraints.txt -e ".[all,dev]"
.venv/bin/python -m course_models train
# The checks and answer keys are root's; the submission runs as uid {uid} in the sandbox.
chmod -R go-rwx /autograder/source
chmod o+rx /autograder /autograder/source /autograder/source/.venv
chmod -R o+rX /autograder/source/.venv /autograder/source/artifacts
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this per submission, as root. The student's code never runs as root: grade
# starts it in the bubblewrap sandbox as the grading uid, with none of source/ visible.
set -uo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
python="${{PYTHON:-$root/source/.venv/bin/python}}"
cd "$root/source"
mkdir -p "$root/results"
"$python" -m course_grading --root "$root/source" gradescope-run {lab} \\
  "$root/submission" "$root/results/results.json"
"""


def results(data: dict[str, Any]) -> dict[str, Any]:
    """Gradescope's results.json from one grade report."""
    tests = []
    for number, check in enumerate(c for c in data.get("checks", []) if c["points"]):
        hidden = "/hidden/" in check["name"]
        tests.append(
            {
                "name": check["name"].split("tests/", 1)[-1],
                "number": str(number + 1),
                "score": check["points"] if check["passed"] else 0,
                "max_score": check["points"],
                "status": "passed" if check["passed"] else "failed",
                "output": check.get("message") or "",
                "visibility": "after_published" if hidden else "visible",
                "tags": [f"task {check['task']}"] if check.get("task") else [],
            }
        )
    return {
        "score": data.get("total", 0),
        "execution_time": int(data.get("seconds") or 0),
        "output": grade.summary(data),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def run(root: Path, lab: int, submission: Path, out: Path) -> dict[str, Any]:
    """Grade ``submission`` and write results.json (a grading error is a 0 with its reason)."""
    try:
        data = grade.grade(
            lab, root, submission, student="submission", report=out.with_suffix(".grade.json")
        )
        doc = results(data)
    except grade.GradeError as exc:
        doc = {
            "score": 0,
            "output": f"The autograder could not grade this submission: {exc}",
            "tests": [],
        }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def bundle(root: Path, lab: int, out: Path) -> Path:
    """Write the autograder folder and its zip; returns the zip."""
    root = root.resolve()
    if out.exists():
        shutil.rmtree(out)
    source = out / "source"
    for rel in tracked_files(root):
        dst = source / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dst)
    for name, text in (
        ("setup.sh", SETUP_SH.format(uid=grade.DEFAULT_UID)),
        ("run_autograder", RUN_AUTOGRADER.format(lab=lab)),
    ):
        path = out / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    archive = out.with_name(f"{out.name}-autograder.zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(out.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(out).as_posix())
    return archive
