"""Grade a whole class: every checkout under a folder in its own sandbox, ``jobs`` at a time.

Each submission gets its own uid (``grade.DEFAULT_UID + 1 + i``: its process limit, its files),
its own temporary tree and report, and its own wall-clock budget, so one submission's crash,
hang or resource hog changes no one else's grade. A submission that cannot be graded at all
(no commit, a timeout) gets a report with 0 points and the reason, so it is in the roster too.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from course_grading import grade, roster


def submissions(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise grade.GradeError(f"no submissions (folders) under {folder}")
    return found


def _one(lab: int, root: Path, sub: Path, out: Path, uid: int, timeout: float) -> dict[str, Any]:
    report = out / sub.name / f"lab{lab}.json"
    started = time.monotonic()
    try:
        return grade.grade(lab, root, sub, report=report, timeout=timeout, uid=uid)
    except grade.GradeError as exc:
        data = {
            "lab": f"lab{lab}",
            "student": sub.name,
            "total": 0,
            "max": 0,
            "checks": [],
            # One row in the roster, so the student is not silently missing from it.
            "tasks": {
                "all": {"title": f"not graded: {exc}"[:200], "points": 0, "max": 0, "checks": []}
            },
            "warnings": [f"not graded: {exc}"],
            "seconds": round(time.monotonic() - started, 1),
        }
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(data, indent=2) + "\n")
        return data | {"report": str(report)}


def grade_class(
    lab: int, root: Path, folder: Path, jobs: int = 2, out: Path | None = None, timeout: float = 900
) -> tuple[list[dict[str, Any]], float]:
    root = root.resolve()
    out = (out or root / "artifacts" / "grades").resolve()
    subs = submissions(folder.resolve())
    started = time.monotonic()
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = [
            pool.submit(_one, lab, root, sub, out, grade.DEFAULT_UID + 1 + i, timeout)
            for i, sub in enumerate(subs)
        ]
        results = [f.result() for f in futures]
    return results, round(time.monotonic() - started, 1)


def report_text(results: list[dict[str, Any]], wall: float, jobs: int) -> str:
    lines = ["| submission | points | commit | seconds | note |", "|---|---|---|---|---|"]
    for r in results:
        note = "; ".join(r.get("warnings") or [])[:120]
        commit = (r.get("commit") or "")[:10]
        lines.append(
            f"| {r.get('student')} | {r['total']} / {r['max']} | {commit} | {r.get('seconds')} "
            f"| {note} |"
        )
    lines.append(f"\n{len(results)} submissions, JOBS={jobs}: {wall} s wall")
    return "\n".join(lines)


def write_roster(results: list[dict[str, Any]], out: Path) -> list[roster.Row]:
    rows = roster.collect([Path(r["report"]) for r in results])
    roster.write_csv(rows, out)
    out.with_suffix(".md").write_text(roster.summary(rows))
    return rows
