"""The cheat suite: the stub-only student edition of lab 1 plus one trick each, committed as a
student would, graded in the sandbox. Each must score what its honest code earns (0: the
stubs), read nothing of the grader's, and leave every other report alone.

For speed each grade runs a few of lab 1's graded checks (one server start; every trick acts
at import or start-up, which every check goes through), with a short start-up budget so the
endless loop costs seconds, not minutes. The full grade of the stub and solution editions is
tests/grading/test_e2e_lab1.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

from course_grading import grade, release

REPO = Path(__file__).resolve().parents[2]
PKG = "labs/lab1_fastapi/lab1_fastapi"
SUBSET = ["-k", "test_versioned_predict_single or test_ready_lists_loaded_versions"]

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# Every trick gets these paths: {leak} a world-writable folder on the host (the sandbox has its
# own /tmp, so anything that appears here escaped), {report} the cheat's own report, {victim}
# another student's report, {repo} the instructor repository.
STEAL = """
import glob, os, shutil
for src in glob.glob("{repo}/tests/lab1/hidden/*") + ["{repo}/instructor/lab1.md",
        "{repo}/answers/lab1.md"] + glob.glob("{repo}/artifacts/grades/*/*.json"):
    try:
        shutil.copy(src, "{leak}")
    except OSError:
        pass
"""
FORGE = """
import json
for path in ("{report}", "{victim}"):
    try:
        with open(path, "w") as f:
            json.dump({{"lab": "lab1", "total": 49, "max": 49, "checks": [], "tasks": {{}}}}, f)
    except OSError:
        pass
"""
PASS_ALL = """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None
"""

CHEATS: dict[str, dict[str, str]] = {
    "stubs": {},
    "sitecustomize": {"labs/lab1_fastapi/sitecustomize.py": PASS_ALL + FORGE + STEAL},
    "root_conftest": {"conftest.py": PASS_ALL + FORGE},
    "pytest_ini_plugin": {
        "pytest.ini": "[pytest]\naddopts = -p lab1_fastapi.cheat\n",
        f"{PKG}/cheat.py": PASS_ALL,
    },
    "atexit_rewrite": {
        f"{PKG}/atexit_cheat.py": "import atexit\natexit.register(lambda: exec("
        + repr(FORGE)
        + "))\n"
    },
    "read_hidden_and_key": {f"{PKG}/steal.py": STEAL},
    "write_outside": {
        f"{PKG}/escape.py": """
import os
for path in ("{leak}/escaped.txt", "{repo}/tests/lab1/test_zz_planted.py", "/work/planted.txt"):
    try:
        open(path, "w").write("def test_free_points():\\n    pass\\n")
    except OSError:
        pass
"""
    },
    "process_flood": {
        f"{PKG}/flood.py": """
import os, time
for _ in range(2000):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    except OSError:
        break
"""
    },
    "memory_hog": {
        f"{PKG}/hog.py": """
hog = []
try:
    for _ in range(64):
        hog.append(bytearray(1 << 30))
except MemoryError:
    hog.clear()
"""
    },
    "endless_import": {f"{PKG}/spin.py": "while True:\n    pass\n"},
    "committed_venv": {
        ".venv/bin/python": "#!/bin/sh\necho forged > {leak}/venv-ran\n",
        ".venv/pyvenv.cfg": "home = /usr/bin\n",
    },
    "symlink_to_key": {},  # a committed link to the answer key (added below)
}
# Modules the tricks above live in are imported by the lab package, as a cheat would.
IMPORTS = {
    "atexit_rewrite": "atexit_cheat",
    "read_hidden_and_key": "steal",
    "write_outside": "escape",
    "process_flood": "flood",
    "memory_hog": "hog",
    "endless_import": "spin",
}


def git(root: Path, *args: str) -> None:
    ident = ["-c", "user.name=s", "-c", "user.email=s@example.invalid"]
    subprocess.run(["git", *ident, *args], cwd=root, check=True, capture_output=True)


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cheats") / "edition"
    release.build(REPO, out, git=True)
    return out


@pytest.fixture
def leak() -> Path:
    path = Path("/tmp") / f"course-cheat-leak-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o777)
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_cheat(edition: Path, name: str, where: Path, fmt: dict[str, str]) -> Path:
    sub = where / name
    shutil.copytree(edition, sub, symlinks=True)
    for rel, text in CHEATS[name].items():
        path = sub / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).format(**fmt))
    if name in IMPORTS:
        init = sub / PKG / "__init__.py"
        init.write_text(init.read_text() + f"\nfrom lab1_fastapi import {IMPORTS[name]}  # noqa\n")
    if name == "symlink_to_key":
        (sub / PKG / "key.md").symlink_to(REPO / "instructor" / "lab1.md")
    git(sub, "add", "-A", "-f")
    git(sub, "commit", "-q", "--allow-empty", "-m", f"my honest work ({name})")
    if name == "stubs":
        # Untracked work is not graded: the solution restored but never committed.
        release.restore(sub, REPO)
    return sub


@pytest.mark.parametrize("name", list(CHEATS))
def test_a_cheat_scores_what_its_honest_code_earns(edition, leak, tmp_path, monkeypatch, name):
    monkeypatch.setenv("COURSE_SANDBOX_STARTUP_S", "25")
    monkeypatch.setenv("COURSE_SANDBOX_WALL_S", "240")
    report = tmp_path / "grades" / name / "lab1.json"
    victim = tmp_path / "grades" / "victim" / "lab1.json"
    victim.parent.mkdir(parents=True)
    victim.write_text('{"lab": "lab1", "total": 7, "max": 49}\n')
    for path in (tmp_path, victim.parent.parent, victim.parent, victim):
        path.chmod(0o777 if path.is_dir() else 0o666)  # even writable: it must not be visible
    fmt = {"leak": str(leak), "report": str(report), "victim": str(victim), "repo": str(REPO)}
    sub = make_cheat(edition, name, tmp_path / "subs", fmt)
    uid = grade.DEFAULT_UID + 900 + list(CHEATS).index(name)
    data = grade.grade(
        1, REPO, sub, student=name, report=report, pytest_args=SUBSET, timeout=400, uid=uid
    )
    print(grade.summary(data))
    assert data["isolated"] is True and data["commit"]
    assert data["max"] > 0 and data["total"] == 0, grade.summary(data)
    assert json.loads(report.read_text())["total"] == 0
    assert json.loads(victim.read_text())["total"] == 7
    assert sorted(p.name for p in leak.iterdir()) == []
    assert not (REPO / "tests/lab1/test_zz_planted.py").exists()
    if name == "symlink_to_key":
        assert data.get("left_out_of_export") == [f"{PKG}/key.md"]
