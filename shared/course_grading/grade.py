"""Grade one lab, of this checkout or of a student's (``--submission``), into a per-task report.

What is graded is the submission's committed ``HEAD`` (``git archive``; its sha is in the
report): untracked files, a committed ``.venv``, its ``conftest.py``/``pytest.ini``/
``sitecustomize.py`` and the like never reach the grader.

Isolated labs (``ISOLATED_LABS``): pytest runs in the instructor's repository, with the
instructor's interpreter, configuration, plugin and checks; the submission's code runs only in
the sandbox (``course_grading.sandbox``) that the lab's fixtures start its servers and CLIs in,
and the checks reach it through ports and files. Points-0 checks that probe internals in-process
are left out of such a grade (they would test our code, not the student's).

Other labs still run the submission's code in the grader's pytest (the old way: its exported
tree with our checks laid over it); their report says ``"isolated": false`` and warns.

Models: when the submission's model code (``course_models`` files that shape the models) is
byte-identical to ours, it is graded against our trained ``artifacts/`` (the models would be the
same; training again costs ~20 s per lab); otherwise its own code trains fresh artifacts first.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from course_grading import sandbox
from course_grading.readme import lab_dir
from course_grading.release import ReleaseError, tracked_files

# The files whose changes retrain the models (the Makefile's MODEL_CODE).
MODEL_CODE = ("schema.py", "datasets.py", "tabular.py", "cnn.py", "keras_model.py", "train.py")
SKIP_DIRS = {".git", ".venv", "artifacts", "__pycache__", ".pytest_cache", ".ruff_cache"}
PLUGIN_DIR = Path(__file__).resolve().parent
DEFAULT_TIMEOUT_S = 900
# Labs whose checks reach the submission only through the sandbox (their fixtures call
# ``sandbox.command``); the others are graded the old way and say so in the report.
ISOLATED_LABS = frozenset({1})
# grade-class gives submission i the uid DEFAULT_UID + 1 + i; a single grade takes one from a
# separate range by its pid, so two graders at once never share a uid (its NPROC, its reaping).
DEFAULT_UID = 62000


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


def export(submission: Path, dest: Path) -> dict[str, Any]:
    """The submission's committed HEAD into ``dest`` (a folder that is not a git checkout, e.g.
    a freshly built edition, is taken as it is, minus caches and venvs, and says so)."""
    dest.mkdir(parents=True)
    if not (submission / ".git").exists():
        _copy(submission, _files(submission), dest)
        return {"commit": None, "source": "files (not a git checkout)"}
    git = ["git", "-c", f"safe.directory={submission}", "-C", str(submission)]
    try:
        sha = subprocess.run(
            [*git, "rev-parse", "--verify", "HEAD^{commit}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        data = subprocess.run(
            [*git, "archive", "--format=tar", sha], capture_output=True, check=True
        ).stdout
    except subprocess.CalledProcessError as exc:
        raise GradeError(f"{submission}: no commit to grade ({exc.stderr!s:.200})") from exc

    def safe(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        try:  # no absolute or escaping links, no devices: such members are left out
            return tarfile.data_filter(member, path)
        except tarfile.FilterError:
            skipped.append(member.name)
            return None

    skipped: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter=safe)
    out: dict[str, Any] = {"commit": sha, "source": "git HEAD"}
    return out | ({"left_out_of_export": skipped} if skipped else {})


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
    backend: str | None = None,
    uid: int | None = None,
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
    cmd = _pytest_cmd(sys.executable, lab, report, readme)
    cmd += [f"--grade-student={student}"] if student else []
    spec: sandbox.Spec | None = None
    try:
        if submission is None:
            cwd = root
            # This checkout's packages first, whatever the venv's editable install points at.
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (python_path(root), env.get("PYTHONPATH", "")) if p
            )
        else:
            work = Path(tempfile.mkdtemp(prefix=f"grade-lab{lab}-"))
            work.chmod(0o755)
            cwd, spec, more = _prepare(lab, root, submission, work, env, backend, uid, timeout)
            extra |= more
            cmd += [f"--basetemp={work / 'tmp'}", "--grade-isolated"] if spec else []
        _run(cmd + list(pytest_args or []), cwd, env, timeout)
    finally:
        if spec is not None and os.geteuid() == 0:
            sandbox.reap(spec.uid)  # whatever of theirs outlived the checks
        if work is not None and not keep:
            shutil.rmtree(work, ignore_errors=True)
    if not report.is_file():
        raise GradeError(f"pytest wrote no report to {report} (see its output above)")
    data = json.loads(report.read_text())
    if extra.get("isolated") is False:
        data.setdefault("warnings", []).append(
            f"lab {lab} is NOT isolated yet: its checks imported the submission's code in the "
            "grader's process (a cheat could change this grade); see DEVELOPERS.md"
        )
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


def _prepare(
    lab: int,
    root: Path,
    submission: Path,
    work: Path,
    env: dict[str, str],
    backend: str | None,
    uid: int | None,
    timeout: float,
) -> tuple[Path, sandbox.Spec | None, dict[str, Any]]:
    """Export the submission and set up its grading: (pytest's cwd, the sandbox spec, report)."""
    source = work / "src"
    extra: dict[str, Any] = {"submission": str(submission), **export(submission, source)}
    if lab not in ISOLATED_LABS:
        tree = work / "tree"
        build_tree(root, source, lab, tree)
        env["PYTHONPATH"] = python_path(tree)
        extra |= {"isolated": False}
        return tree, None, extra | _artifacts(root, source, work, env, sys.executable, timeout)
    # Our repository, interpreter, config and checks; their code only in the sandbox.
    backend = backend or os.environ.get("COURSE_SANDBOX_BACKEND") or "bwrap"
    if why := sandbox.available(backend):
        raise GradeError(f"sandbox backend {backend}: {why}")
    spec = _spec(source, work, backend, uid or DEFAULT_UID + 1000 + os.getpid() % 1000)
    extra |= {"isolated": True, "sandbox": f"{backend} (uid {spec.uid})"}
    extra |= _sandboxed_artifacts(root, spec, work, env, timeout)
    env["PYTHONPATH"] = python_path(root)  # the grader's side imports our code, never theirs
    env[sandbox.ENV] = str(spec.save(work / "sandbox.json"))
    return root, spec, extra


def _spec(source: Path, work: Path, backend: str, uid: int) -> sandbox.Spec:
    (work / "tmp").mkdir(mode=0o755)
    (work / "stage").mkdir(mode=0o755)
    for path in source.rglob("*"):
        path.chmod(path.stat().st_mode | (0o055 if path.is_dir() else 0o044))
    source.chmod(0o755)
    return sandbox.Spec(
        backend=backend,
        source=str(source),
        uid=uid,
        python=sys.executable,
        ro=[str(work / "tmp")],
        stage=str(work / "stage"),
        image=os.environ.get("COURSE_SANDBOX_IMAGE", ""),
        limits=sandbox.limits_from_env(),
    )


def _models(root: Path) -> list[str]:
    """The trained model folders only: never artifacts/grades (other students' reports)."""
    base = Path(os.environ.get("COURSE_ARTIFACTS_DIR") or root / "artifacts")
    return (
        [
            str(p)
            for p in sorted(base.iterdir())
            if p.is_dir()
            and p.name not in ("grades", "bench", "load")
            and not p.name.startswith(".")
        ]
        if base.is_dir()
        else []
    )


def _sandboxed_artifacts(
    root: Path, spec: sandbox.Spec, work: Path, env: dict[str, str], timeout: float
) -> dict[str, str]:
    if same_model_code(root, Path(spec.source)):
        env["COURSE_ARTIFACTS_DIR"] = os.environ.get("COURSE_ARTIFACTS_DIR") or str(
            root / "artifacts"
        )
        models = _models(root)
        for folder in models:  # readable by the submission's uid (older trainings wrote 0700)
            sandbox.readable(folder, Path(folder).parent)
        spec.ro += models
        return {"artifacts": "instructor's (model code unchanged)"}
    out = work / "artifacts"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    env["COURSE_ARTIFACTS_DIR"] = str(out)
    spec.rw.append(str(out))
    argv, _ = sandbox.command(
        [sys.executable, "-m", "course_models", "train"], {"COURSE_ARTIFACTS_DIR": str(out)}, spec
    )
    if _run(argv, work, dict(os.environ), timeout):
        raise GradeError("the submission's model code failed to train (python -m course_models)")
    spec.rw.remove(str(out))
    spec.ro.append(str(out))
    return {"artifacts": "trained from the submission's model code (in the sandbox)"}


def first_failure(entry: dict[str, Any]) -> str:
    """The first failing check of a task and its message (what to fix first)."""
    for check in entry.get("checks", []):
        if not check["passed"]:
            name = check["name"].rsplit("::", 1)[-1]
            return f"{name}: {check.get('message') or 'failed'}"[:160]
    return ""


def summary(data: dict[str, Any]) -> str:
    who = f"{data['student']} " if data.get("student") else ""
    line = f"{who}{data['lab']}: {data['total']} / {data['max']} points"
    review = data.get("to_review") or {}
    if review:
        parts = ", ".join(f"{t} ({v['points']} points)" for t, v in review.items())
        line += f"; to review by hand: {parts}"
    lines = [line + f"  [{data.get('seconds', '?')} s] -> {data.get('report', '')}"]
    if "isolated" in data:
        where = data.get("sandbox") if data["isolated"] else "NOT isolated"
        lines.append(f"  graded: {data.get('commit') or data.get('source')} ({where})")
    tasks = data.get("tasks") or {}
    if tasks:
        lines += ["", "| task | points | title | first failing check |", "|---|---|---|---|"]
        for task, entry in tasks.items():
            score = f"{entry['points']} / {entry['max']}"
            lines.append(f"| {task} | {score} | {entry['title']} | {first_failure(entry)} |")
    lines += [f"  warning: {w}" for w in data.get("warnings") or []]
    return "\n".join(lines)
