"""Grade one lab, of this checkout or of a student's (``--submission``), into a per-task report.

A submission is graded the way otter-grader grades a notebook in its own container, without
the container: its tracked files are copied to a temporary tree, the instructor's checks for the
lab (public and hidden), pytest configuration and grading plugin are laid over it, and pytest runs
there with the submission's packages first on ``PYTHONPATH`` (its own ``.venv`` interpreter when
it has one). The student's code is what gets imported; the checks and the scoring are ours.

Models: when the submission's model code (``course_models`` files that shape the models) is
byte-identical to ours, it is graded against our trained ``artifacts/`` (the models would be the
same; training again costs ~20 s per lab); otherwise its own code trains fresh artifacts first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from course_grading.readme import lab_dir
from course_grading.release import ReleaseError, tracked_files

# The files whose changes retrain the models (the Makefile's MODEL_CODE).
MODEL_CODE = ("schema.py", "datasets.py", "tabular.py", "cnn.py", "keras_model.py", "train.py")
SKIP_DIRS = {".git", ".venv", "artifacts", "__pycache__", ".pytest_cache", ".ruff_cache"}
PLUGIN_DIR = Path(__file__).resolve().parent
DEFAULT_TIMEOUT_S = 900


class GradeError(RuntimeError):
    pass


def _files(tree: Path) -> list[str]:
    if (tree / ".git").exists():
        try:
            return tracked_files(tree, untracked=True)
        except ReleaseError:
            pass
    return sorted(
        p.relative_to(tree).as_posix()
        for p in tree.rglob("*")
        if p.is_file() and not SKIP_DIRS.intersection(p.relative_to(tree).parts)
    )


def _copy(src_root: Path, rels: list[str], dst_root: Path) -> None:
    for rel in rels:
        dst = dst_root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src_root / rel, dst)


def _ours(rel: str, lab: int) -> bool:
    """Files the grader brings: the lab's checks, the test conftest, pytest config, the plugin."""
    return rel.startswith((f"tests/lab{lab}/", "shared/course_grading/")) or rel in (
        "tests/conftest.py",
        "pyproject.toml",
    )


def build_tree(root: Path, submission: Path, lab: int, tree: Path) -> None:
    """The submission's files, minus anything we bring, plus the instructor's checks."""
    theirs = [r for r in _files(submission) if not _ours(r, lab) and not r.startswith("tests/")]
    _copy(submission, theirs, tree)
    _copy(root, [r for r in tracked_files(root) if _ours(r, lab) and r.startswith("tests/")], tree)
    shutil.copy2(root / "pyproject.toml", tree / "pyproject.toml")
    shutil.copytree(
        PLUGIN_DIR,
        tree / "shared" / "course_grading",
        ignore=shutil.ignore_patterns("__pycache__"),
        dirs_exist_ok=True,
    )


def python_path(tree: Path) -> str:
    labs = sorted(p for p in (tree / "labs").glob("lab*_*") if p.is_dir())
    return os.pathsep.join(str(p) for p in [tree / "shared", *labs])


def interpreter(submission: Path | None) -> str:
    if submission is not None:
        own = submission / ".venv" / "bin" / "python"
        if own.is_file() and os.access(own, os.X_OK):
            return str(own)
    return sys.executable


def same_model_code(root: Path, submission: Path) -> bool:
    for name in MODEL_CODE:
        ours, theirs = (
            root / "shared/course_models" / name,
            submission / "shared/course_models" / name,
        )
        if ours.is_file() != theirs.is_file():
            return False
        if ours.is_file() and ours.read_bytes() != theirs.read_bytes():
            return False
    return True


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> int:
    """Run in its own process group, so a timeout also stops the servers the checks started."""
    with subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True) as proc:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            raise GradeError(f"grading stopped after {timeout:.0f} s: {' '.join(cmd)}") from None


def _pytest_cmd(python: str, lab: int, report: Path, readme: Path | None) -> list[str]:
    cmd = [python, "-m", "pytest", f"tests/lab{lab}", "-m", "not containers", "-q"]
    cmd += ["-p", "no:cacheprovider", f"--grade-report={report}", f"--grade-lab=lab{lab}"]
    if readme is not None:
        cmd.append(f"--grade-readme={readme}")
    return cmd


def grade(
    lab: int,
    root: Path,
    submission: Path | None = None,
    student: str | None = None,
    report: Path | None = None,
    pytest_args: list[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    keep: bool = False,
) -> dict[str, Any]:
    """Grade lab ``lab``; returns the report (also written to ``report``)."""
    root = root.resolve()
    folder = lab_dir(root, f"lab{lab}")
    readme = folder / "README.md" if folder and (folder / "README.md").is_file() else None
    if submission is not None:
        submission = submission.resolve()
        if not submission.is_dir():
            raise GradeError(f"submission {submission} is not a directory")
        student = student or submission.name
    if report is None:
        base = root / "artifacts" / "grades"
        report = (base / student if student else base) / f"lab{lab}.json"
    report = report.resolve()
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    env = dict(os.environ)
    extra: dict[str, Any] = {}
    started = time.monotonic()
    work: Path | None = None
    try:
        if submission is None:
            cwd = root
            # This checkout's packages first, whatever the venv's editable install points at.
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (python_path(root), env.get("PYTHONPATH", "")) if p
            )
        else:
            work = Path(tempfile.mkdtemp(prefix=f"grade-lab{lab}-"))
            cwd = work / "tree"
            build_tree(root, submission, lab, cwd)
            env["PYTHONPATH"] = python_path(cwd)
            extra |= {"submission": str(submission)}
            extra |= _artifacts(root, submission, work, env, interpreter(submission), timeout)
        cmd = _pytest_cmd(interpreter(submission), lab, report, readme)
        if student:
            cmd.append(f"--grade-student={student}")
        _run(cmd + list(pytest_args or []), cwd, env, timeout)
    finally:
        if work is not None and not keep:
            shutil.rmtree(work, ignore_errors=True)
    if not report.is_file():
        raise GradeError(f"pytest wrote no report to {report} (see its output above)")
    data = json.loads(report.read_text())
    data |= extra | {"seconds": round(time.monotonic() - started, 1)}
    report.write_text(json.dumps(data, indent=2) + "\n")
    data["report"] = str(report)
    return data


def _artifacts(
    root: Path, submission: Path, work: Path, env: dict[str, str], python: str, timeout: float
) -> dict[str, str]:
    if same_model_code(root, submission):
        env["COURSE_ARTIFACTS_DIR"] = os.environ.get("COURSE_ARTIFACTS_DIR") or str(
            root / "artifacts"
        )
        return {"artifacts": "instructor's (model code unchanged)"}
    env["COURSE_ARTIFACTS_DIR"] = str(work / "artifacts")
    if _run([python, "-m", "course_models", "train"], work / "tree", env, timeout):
        raise GradeError("the submission's model code failed to train (python -m course_models)")
    return {"artifacts": "trained from the submission's model code"}


def summary(data: dict[str, Any]) -> str:
    who = f"{data['student']} " if data.get("student") else ""
    line = f"{who}{data['lab']}: {data['total']} / {data['max']} points"
    review = data.get("to_review") or {}
    if review:
        parts = ", ".join(f"{t} ({v['points']} points)" for t, v in review.items())
        line += f"; to review by hand: {parts}"
    lines = [line + f"  [{data.get('seconds', '?')} s] -> {data.get('report', '')}"]
    for task, entry in (data.get("tasks") or {}).items():
        lines.append(f"  task {task:5} {entry['points']:>5} / {entry['max']:<5} {entry['title']}")
    lines += [f"  warning: {w}" for w in data.get("warnings") or []]
    return "\n".join(lines)
