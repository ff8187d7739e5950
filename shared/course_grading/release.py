"""The student edition: the tracked tree with task regions stubbed and instructor material left out.

Modelled on ``nbgrader generate_assignment`` / ``otter assign`` (one source of truth, a release
built from it), for a repository of services: the input is ``git ls-files`` (so no venv, no
artifacts), every text file outside Markdown has its task regions replaced by their stubs (the
``BEGIN``/``END TASK`` lines stay, so students find each task), every file has its instructor
blocks dropped, instructor-only paths are not copied, the Python files that got stubs are made
lint- and format-clean (``ruff check --fix``, safe fixes only, then ``ruff format``: a stub leaves
imports only the solution used), and a leak check reads the written tree back before the command
reports success.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from course_grading import classroom
from course_grading.regions import (
    HASH_INSTRUCTOR_RE,
    MARKDOWN_SUFFIXES,
    MD_INSTRUCTOR_RE,
    STUB_RE,
    Region,
    RegionError,
    is_trivial,
    marked_regions,
    read_lines,
    restore_lines,
    student_version,
)

# Paths (fnmatch patterns on the repository-relative path) that never reach students: answer
# keys and solution notes, hidden checks, the release tooling's own tests, the instructor CI.
INSTRUCTOR_ONLY = (
    "instructor/*",
    "tests/*/hidden/*",
    "tests/grading/*",
    ".ci/*",
    ".github/workflows/ci.yml",
)
WORKFLOW = ".github/workflows/classroom.yml"
# The course's own issue numbers (the word, a space, a number) mean nothing to a student;
# an upstream project's issues are named with the project ("tensorflow/serving issues ...").
INTERNAL_ISSUE_RE = re.compile(r"\bissue\s+#?\d+", re.IGNORECASE)
BANNER = (
    "> **Student edition.** This is your copy of the course ({source}). Each lab README lists\n"
    "> *Your tasks*; each task's code sits between `# BEGIN TASK N.M` and `# END TASK N.M` and\n"
    '> answers "task N.M not implemented" (HTTP 501, or exit code 2) until you write it.\n'
    "> `make grade-N` runs the public checks of lab N and prints your points per task;\n"
    "> `answers/labN.md` holds your written answers.\n"
)


class ReleaseError(RuntimeError):
    pass


@dataclass
class Edition:
    out: Path
    files: int = 0
    left_out: list[str] = field(default_factory=list)
    regions: Counter[str] = field(default_factory=Counter)  # task -> number of regions
    secrets: set[str] = field(default_factory=set)


def instructor_only(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in INSTRUCTOR_ONLY)


def tracked_files(root: Path, untracked: bool = False) -> list[str]:
    """Repository-relative paths git knows (optionally with untracked, non-ignored ones)."""
    cmd = ["git", "-C", str(root), "ls-files", "-z", "--cached"]
    if untracked:
        cmd += ["--others", "--exclude-standard"]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ReleaseError(f"{root} is not a git checkout (git ls-files failed): {exc}") from exc
    return sorted({p for p in out.split("\0") if p and (root / p).is_file()})


def _prepare(out: Path, root: Path, force: bool) -> None:
    out_r, root_r = out.resolve(), root.resolve()
    if out_r == root_r or out_r in root_r.parents:
        raise ReleaseError(f"refusing to write the student edition over {out} (holds {root})")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out} exists and is not empty (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _banner(lines: list[str], source: str) -> list[str]:
    at = 1 if lines and lines[0].startswith("# ") else 0
    head = ["\n"] if at else []
    return [*lines[:at], *head, BANNER.format(source=source), *(lines[at:] or ["\n"])]


def _source_label(root: Path) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an untracked tree"
    return f"commit {rev}"


def build(root: Path, out: Path, force: bool = False, git: bool = True) -> Edition:
    """Write the student edition of ``root`` into ``out`` and verify it; raises on any problem."""
    _prepare(out, root, force)
    edition = Edition(out)
    public: set[str] = set()
    secret: set[str] = set()
    stubbed: list[str] = []
    for rel in tracked_files(root):
        if instructor_only(rel) or rel == WORKFLOW:
            edition.left_out.append(rel)
            continue
        src, dst = root / rel, out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        lines = read_lines(src)
        if lines is None:
            shutil.copyfile(src, dst)
        else:
            stripped = student_version(lines, rel)
            text = stripped.lines
            if rel == "README.md":
                text = _banner(text, _source_label(root))
            dst.write_text("".join(text), encoding="utf-8")
            edition.regions.update(r.task for r in stripped.regions)
            secret.update(_norm(line) for line in stripped.secret)
            public.update(_norm(line) for line in stripped.public)
        shutil.copymode(src, dst)
        edition.files += 1
        if stripped.regions and rel.endswith(".py"):
            stubbed.append(rel)
    tidy(out, stubbed)
    workflow = out / WORKFLOW
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(classroom.workflow(out), encoding="utf-8")
    edition.files += 1
    edition.secrets = {s for s in secret - public if not is_trivial(s)}
    problems = leak_check(out, edition.secrets)
    if problems:
        raise ReleaseError("the student edition leaks:\n  " + "\n  ".join(problems[:50]))
    if git:
        _git_init(out, _source_label(root))
    return edition


def _ruff(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ruff", *args]
    try:
        return subprocess.run(cmd, cwd=out, capture_output=True, text=True, check=False)
    except OSError as exc:  # pragma: no cover - the interpreter itself is missing
        raise ReleaseError(f"cannot run ruff ({exc})") from exc


def tidy(out: Path, files: list[str]) -> None:
    """Lint- and format-clean the stubbed Python files with the edition's own ruff settings.

    Only safe fixes (unused imports and ``noqa`` comments a stub no longer needs, import order),
    then the formatter; anything left is a stub to fix at the source, so the release stops.
    ``restore`` takes the lines outside the regions from the instructor's file again.
    """
    if not files:
        return
    fix = _ruff(out, "check", "--fix", "--no-cache", "--exit-zero", "--quiet", *files)
    if fix.returncode != 0:
        raise ReleaseError(f"ruff is needed for the release (the dev extra): {fix.stderr.strip()}")
    _ruff(out, "format", "--no-cache", "--quiet", *files)
    left = _ruff(out, "check", "--no-cache", *files)
    unformatted = _ruff(out, "format", "--check", "--no-cache", *files)
    if left.returncode or unformatted.returncode:
        raise ReleaseError(
            "the stubbed files are not lint-clean after ruff's safe fixes:\n"
            + (left.stdout + unformatted.stdout).strip()
        )


def _norm(line: str) -> str:
    return line.strip()


def _marker_left(line: str, markdown: bool) -> bool:
    """Instructor markers and STUB lines never ship; BEGIN/END TASK lines do (around stubs)."""
    if markdown:
        return bool(MD_INSTRUCTOR_RE.match(line))
    return any(p.match(line) for p in (STUB_RE, HASH_INSTRUCTOR_RE))


def leak_check(out: Path, secrets: set[str]) -> list[str]:
    """Read the written edition back: instructor-only paths, marker lines, solution lines."""
    problems: list[str] = []
    for path in sorted(p for p in out.rglob("*") if p.is_file() and ".git" not in p.parts):
        rel = path.relative_to(out).as_posix()
        if instructor_only(rel):
            problems.append(f"{rel}: instructor-only file")
            continue
        lines = read_lines(path)
        if lines is None:
            continue
        markdown = rel.lower().endswith(MARKDOWN_SUFFIXES)
        if not markdown:
            try:
                marked_regions(lines, rel)
            except RegionError as exc:
                problems.append(f"{exc} (task markers around a stub must pair up)")
        for i, line in enumerate(lines, 1):
            if _marker_left(line, markdown):
                problems.append(f"{rel}:{i}: marker left in the edition: {line.strip()!r}")
            elif _norm(line) in secrets:
                problems.append(f"{rel}:{i}: solution or instructor text: {line.strip()!r}")
            elif m := INTERNAL_ISSUE_RE.search(line):
                problems.append(f"{rel}:{i}: internal issue number {m[0]!r}: {line.strip()!r}")
    return problems


def _git_init(out: Path, source: str) -> None:
    ident = ["-c", "user.name=course release", "-c", "user.email=release@course.invalid"]
    run = {"cwd": out, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q", "-b", "main"], **run)
    subprocess.run(["git", "add", "-A"], **run)
    subprocess.run(["git", *ident, "commit", "-q", "-m", f"Student edition (from {source})"], **run)


def instructor_regions(root: Path) -> dict[str, list[Region]]:
    """Every tracked file's task regions (for restore and for the checks in tests)."""
    found: dict[str, list[Region]] = {}
    for rel in tracked_files(root):
        if instructor_only(rel):
            continue
        lines = read_lines(root / rel)
        if lines is None or rel.lower().endswith(MARKDOWN_SUFFIXES):
            continue
        regions = student_version(lines, rel).regions
        if regions:
            found[rel] = regions
    return found


def restore(student: Path, instructor: Path, tasks: list[str] | None = None) -> Counter[str]:
    """Put the instructor's solution regions back into a student checkout, by task number."""
    restored: Counter[str] = Counter()
    for rel in instructor_regions(instructor):
        target = student / rel
        if not target.is_file():
            raise RegionError(rel, 1, f"{target} is missing from the student checkout")
        lines = read_lines(instructor / rel) or []
        new, done = restore_lines(read_lines(target) or [], lines, rel, tasks)
        if done:
            target.write_text("".join(new), encoding="utf-8")
        restored.update(done)
    return restored
