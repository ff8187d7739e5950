"""Merge many students' lab reports into a CSV gradebook and a Markdown summary.

Like otter-grader's ``final_grades.csv`` and nbgrader's ``export``, one row per (student, lab,
task); written tasks get a row with an empty ``points`` for the marker to fill in. The student is
the report's ``student`` field (``grade --student``), else the folder the report sits in
(``grades/<student>/labN.json``), else the file name (``<student>-labN.json``).
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLUMNS = ("student", "lab", "task", "title", "kind", "points", "max")
_FILE = re.compile(r"^(?P<student>.+?)[-_.](?P<lab>lab\d+)$")


class RosterError(ValueError):
    pass


@dataclass(frozen=True)
class Row:
    student: str
    lab: str
    task: str
    title: str
    kind: str  # "auto" or "to review"
    points: float | None
    max: float


def student_of(path: Path, report: dict[str, Any]) -> str:
    if report.get("student"):
        return str(report["student"])
    if m := _FILE.match(path.stem):
        return m["student"]
    if re.fullmatch(r"lab\d+", path.stem) and path.parent.name not in ("", "grades", "."):
        return path.parent.name
    raise RosterError(f"{path}: cannot tell whose report this is (grade with --student NAME)")


def rows_of(path: Path) -> list[Row]:
    try:
        report = json.loads(path.read_text())
        lab, tasks = report["lab"], report.get("tasks", {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RosterError(f"{path}: not a grade report ({exc})") from exc
    student = student_of(path, report)
    rows = [
        Row(student, lab, task, t["title"], "auto", t["points"], t["max"])
        for task, t in tasks.items()
    ]
    in_tasks = {c["name"] for t in tasks.values() for c in t["checks"]}
    other = [c for c in report.get("checks", []) if c["name"] not in in_tasks and c["points"]]
    if other:
        earned = sum(c["points"] for c in other if c["passed"])
        total = sum(c["points"] for c in other)
        rows.append(Row(student, lab, "-", "checks without a task", "auto", earned, total))
    rows += [
        Row(student, lab, task, t["title"], "to review", None, t["points"])
        for task, t in report.get("to_review", {}).items()
    ]
    return rows


def collect(paths: list[Path]) -> list[Row]:
    seen: dict[tuple[str, str], Path] = {}
    rows: list[Row] = []
    for path in paths:
        mine = rows_of(path)
        if not mine:
            continue
        key = (mine[0].student, mine[0].lab)
        if key in seen:
            raise RosterError(f"{path} and {seen[key]} are both {key[0]}'s {key[1]}")
        seen[key] = path
        rows += mine
    return sorted(rows, key=lambda r: (r.student, r.lab, _task_key(r.task)))


def _task_key(task: str) -> tuple[int, ...]:
    return tuple(int(p) for p in task.split(".")) if re.fullmatch(r"\d+\.\d+", task) else (99,)


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def write_csv(rows: list[Row], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow(
                [r.student, r.lab, r.task, r.title, r.kind, _fmt(r.points), _fmt(r.max)]
            )


def _totals_table(rows: list[Row]) -> list[str]:
    labs = sorted({r.lab for r in rows}, key=lambda lab: int(lab.removeprefix("lab") or 0))
    score: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        if r.kind == "auto":
            score[r.student, r.lab][0] += r.points or 0
            score[r.student, r.lab][1] += r.max
    lines = [
        "| student | " + " | ".join(labs) + " | automatic total |",
        "|---" * (len(labs) + 2) + "|",
    ]
    for student in sorted({r.student for r in rows}):
        cells = []
        for lab in labs:
            got = score.get((student, lab))
            cells.append(f"{_fmt(got[0])} / {_fmt(got[1])}" if got else "—")
        earned = sum(v[0] for (s, _), v in score.items() if s == student)
        most = sum(v[1] for (s, _), v in score.items() if s == student)
        lines.append(f"| {student} | " + " | ".join(cells) + f" | {_fmt(earned)} / {_fmt(most)} |")
    return lines


def _task_table(rows: list[Row]) -> list[str]:
    by_task: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.kind == "auto":
            by_task[r.lab, r.task, r.title].append(r)
    lines = ["| lab | task | title | mean | max | full marks |", "|---|---|---|---|---|---|"]
    for (lab, task, title), group in sorted(by_task.items(), key=lambda kv: _task_key(kv[0][1])):
        mean = sum(r.points or 0 for r in group) / len(group)
        full = sum(1 for r in group if r.max and (r.points or 0) >= r.max)
        most = max(r.max for r in group)
        lines.append(
            f"| {lab} | {task} | {title} | {mean:.1f} | {_fmt(most)} | {full}/{len(group)} |"
        )
    return lines


def summary(rows: list[Row]) -> str:
    students = sorted({r.student for r in rows})
    review = [r for r in rows if r.kind == "to review"]
    lines = [
        "# Gradebook",
        "",
        f"{len(students)} students. Automatic points from the checks; written tasks are listed "
        "under *To review by hand* and not counted yet.",
        "",
        "## Totals",
        "",
        *_totals_table(rows),
        "",
        "## Per task",
        "",
        *_task_table(rows),
    ]
    if review:
        lines += ["", "## To review by hand", "", "| student | lab | task | title | max |"]
        lines += ["|---|---|---|---|---|"]
        lines += [
            f"| {r.student} | {r.lab} | {r.task} | {r.title} | {_fmt(r.max)} |" for r in review
        ]
    return "\n".join(lines) + "\n"
