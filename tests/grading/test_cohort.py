"""grade-class on the demo lab: every checkout graded on its own, the roster written, and a
submission that cannot be graded is a 0 row with its reason, not a crash of the class run."""

from __future__ import annotations

import shutil
import subprocess

from course_grading import cohort, release


def test_a_class_is_graded_one_checkout_at_a_time(demo_repo, tmp_path):
    subs = tmp_path / "subs"
    release.build(demo_repo, subs / "alice")
    shutil.copytree(subs / "alice", subs / "bob")
    release.restore(subs / "bob", demo_repo)
    ident = ["-c", "user.name=s", "-c", "user.email=s@example.invalid"]
    subprocess.run(["git", *ident, "commit", "-qam", "done"], cwd=subs / "bob", check=True)
    (subs / "carol").mkdir()
    subprocess.run(["git", "init", "-q"], cwd=subs / "carol", check=True)  # nothing committed
    results, wall = cohort.grade_class(9, demo_repo, subs, jobs=2, out=tmp_path / "grades")
    got = {r["student"]: (r["total"], r["max"]) for r in results}
    assert got == {"alice": (0, 5), "bob": (5, 5), "carol": (0, 0)}
    carol = next(r for r in results if r["student"] == "carol")
    assert "no commit to grade" in carol["warnings"][0]
    rows = cohort.write_roster(results, tmp_path / "roster.csv")
    assert {r.student for r in rows} == {"alice", "bob", "carol"}
    assert (tmp_path / "roster.md").is_file() and wall > 0
    assert "| bob | 5 / 5 |" in cohort.report_text(results, wall, 2)
