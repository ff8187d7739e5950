"""The gradebook: reports of several students merged into CSV rows and a Markdown summary."""

import csv
import json

import pytest

from course_grading import roster
from course_grading.__main__ import main


def report(lab, tasks, student=None, review=None, other=()):
    data = {
        "lab": lab,
        "tasks": {
            t: {"title": f"title {t}", "points": p, "max": m, "checks": [{"name": f"t{t}"}]}
            for t, (p, m) in tasks.items()
        },
        "to_review": {t: {"title": "written", "points": p} for t, p in (review or {}).items()},
        "checks": [*({"name": f"t{t}", "points": 1, "passed": True} for t in tasks), *other],
    }
    if student:
        data["student"] = student
    return data


@pytest.fixture
def reports(tmp_path):
    files = {
        "grades/alice/lab1.json": report("lab1", {"1.1": (4, 4), "1.2": (1, 3)}, review={"1.5": 5}),
        "grades/alice/lab2.json": report("lab2", {"2.1": (2, 2)}),
        "bob-lab1.json": report("lab1", {"1.1": (0, 4), "1.2": (3, 3)}, review={"1.5": 5}),
        "x/lab1.json": report(
            "lab1",
            {"1.1": (4, 4)},
            student="carol",
            other=[{"name": "loose", "points": 2, "passed": False}],
        ),
    }
    paths = []
    for rel, data in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        paths.append(path)
    return paths


def test_csv_rows_per_student_lab_task(reports, tmp_path):
    out = tmp_path / "book.csv"
    assert (
        main(["roster", *map(str, reports), "--out", str(out), "--summary", str(tmp_path / "b.md")])
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == list(roster.COLUMNS)
    got = {(r["student"], r["lab"], r["task"]): (r["kind"], r["points"], r["max"]) for r in rows}
    assert got[("alice", "lab1", "1.2")] == ("auto", "1", "3")
    assert got[("alice", "lab1", "1.5")] == ("to review", "", "5")
    assert got[("bob", "lab1", "1.1")] == ("auto", "0", "4")
    assert got[("carol", "lab1", "-")] == ("auto", "0", "2")
    assert got[("alice", "lab2", "2.1")] == ("auto", "2", "2")
    md = (tmp_path / "b.md").read_text()
    assert "| alice | 5 / 7 | 2 / 2 | 7 / 9 |" in md
    assert "| bob | 3 / 7 | — | 3 / 7 |" in md
    assert "| lab1 | 1.1 | title 1.1 | 2.7 | 4 | 2/3 |" in md
    assert "| bob | lab1 | 1.5 | written | 5 |" in md


def test_duplicate_and_anonymous_reports_are_errors(reports, tmp_path):
    with pytest.raises(roster.RosterError, match="both alice's lab1"):
        roster.collect([reports[0], reports[0]])
    anon = tmp_path / "grades" / "lab1.json"  # what plain `make grade-1` writes
    anon.write_text(json.dumps(report("lab1", {"1.1": (1, 4)})))
    with pytest.raises(roster.RosterError, match="--student"):
        roster.collect([anon])
