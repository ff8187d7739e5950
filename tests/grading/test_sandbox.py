"""The sandbox on its own: what a submission's process can see, write and spend.

Each check runs a small Python program as the submission would run (``sandbox.command`` with a
grading spec) and reads its verdict from the program's output, so a leak is a failed check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from course_grading import sandbox

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def spec(monkeypatch) -> Iterator[sandbox.Spec]:
    assert sandbox.available("bwrap") is None, sandbox.available("bwrap")
    # Not under pytest's tmp_path: that is private to the grader (0700), as grade's is not.
    tmp_path = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    src = tmp_path / "src"
    (src / "labs" / "lab9_demo").mkdir(parents=True)
    (src / "shared").mkdir()
    (src / "README.md").write_text("the submission\n")
    for path in (tmp_path, src, *src.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (tmp_path / "stage").mkdir(mode=0o755)
    spec = sandbox.Spec(
        backend="bwrap",
        source=str(src),
        uid=62999,
        python=sys.executable,
        stage=str(tmp_path / "stage"),
        limits=sandbox.Limits(cpu_s=20, memory_mb=1024, nproc=64, wall_s=20, fsize_mb=8),
    )
    monkeypatch.setenv(sandbox.ENV, str(spec.save(tmp_path / "spec.json")))
    yield spec
    shutil.rmtree(tmp_path, ignore_errors=True)


def run_inside(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    argv, env = sandbox.command([sys.executable, "-c", code], {"SECRET_TOKEN": "x", "LAB9_A": "1"})
    return subprocess.run(argv, env=env or None, capture_output=True, text=True, timeout=timeout)


PROBE = f"""
import json, os
repo = {str(REPO)!r}
seen = {{}}
for rel in ("instructor/lab1.md", "tests/lab1/hidden/test_hidden_lab1.py", "pyproject.toml",
            "artifacts/grades", "shared/course_grading/grade.py"):
    seen[rel] = os.path.exists(os.path.join(repo, rel))
writes = {{}}
for path in (os.path.join(repo, "pwned.txt"), "/submission/pwned.txt", "/tmp/ok.txt",
             "/var/tmp/pwned.txt", {str(Path.home())!r} + "/pwned.txt"):
    try:
        open(path, "w").write("x")
        writes[path] = True
    except OSError:
        writes[path] = False
print(json.dumps({{"uid": os.getuid(), "seen": seen, "writes": writes,
                  "readme": open("/submission/README.md").read(), "env": sorted(os.environ),
                  "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}}))
"""


def test_the_submission_sees_only_itself_and_writes_only_its_tmp(spec):
    done = run_inside(PROBE)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["readme"] == "the submission\n"
    assert not any(got["seen"].values()), got["seen"]
    assert got["writes"] == {
        # a checkout under /tmp: the path exists only in the private tmpfs, where writes may go
        str(REPO / "pwned.txt"): REPO.is_relative_to("/tmp"),
        "/submission/pwned.txt": False,
        "/tmp/ok.txt": True,  # its private tmpfs
        "/var/tmp/pwned.txt": False,
        str(Path.home() / "pwned.txt"): False,
    }
    assert not (REPO / "pwned.txt").exists()  # what counts: nothing reached the real checkout
    assert "SECRET_TOKEN" not in got["env"] and "LAB9_A" in got["env"]
    assert len(got["pids"]) <= 3, got["pids"]  # its own pid namespace: no grader processes
    if os.geteuid() == 0:
        assert got["uid"] == spec.uid  # not root


def test_a_process_flood_stops_at_the_limit(spec):
    code = """
import os, time
n = 0
try:
    for _ in range(1000):
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
        n += 1
except OSError:
    pass
print(n)
"""
    done = run_inside(code)
    assert done.returncode == 0, done.stderr
    assert 0 < int(done.stdout) < spec.limits.nproc


def test_a_memory_hog_gets_memory_error(spec):
    done = run_inside("b = bytearray(4 << 30)")
    assert done.returncode != 0 and "MemoryError" in done.stderr


def test_an_endless_loop_is_stopped_by_the_wall_clock(spec):
    spec.limits.wall_s = 3
    spec.save(Path(os.environ[sandbox.ENV]))
    done = run_inside("while True: pass")
    assert done.returncode in (124, 137, -9), (done.returncode, done.stderr)


def test_outside_a_grading_run_commands_are_unchanged(monkeypatch):
    monkeypatch.delenv(sandbox.ENV, raising=False)
    assert sandbox.command(["python", "-V"], {"A": "1"}) == (["python", "-V"], {"A": "1"})
