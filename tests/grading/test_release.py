"""Student edition, restore, grading a submission and the Classroom workflow, on the demo repo."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from course_grading import classroom, grade, release
from course_grading.__main__ import main


def all_text(root):
    return "\n".join(
        p.read_text(errors="replace")
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.parts
    )


@pytest.fixture
def edition(demo_repo, tmp_path):
    out = tmp_path / "student"
    release.build(demo_repo, out)
    return out


def test_edition_has_stubs_and_no_instructor_material(edition, demo_secrets):
    core = (edition / "labs/lab9_demo/lab9_demo/core.py").read_text()
    assert '    raise TaskNotImplemented("task 9.1 not implemented: add")\n' in core
    assert "greeting=CHANGE_ME\n" in (edition / "labs/lab9_demo/config.properties").read_text()
    text = all_text(edition)
    for secret in demo_secrets:
        assert secret not in text
    assert "STUB" not in text and "INSTRUCTOR" not in text
    assert core.count("# BEGIN TASK 9.1: add two numbers\n") == core.count("# END TASK 9.1\n") == 1
    assert not (edition / "instructor").exists() and not (edition / "tests/lab9/hidden").exists()
    assert (edition / "answers/lab9.md").is_file() and (
        edition / "tests/lab9/test_core.py"
    ).is_file()
    assert "**Student edition.**" in (edition / "README.md").read_text()
    log = subprocess.run(["git", "log", "--oneline"], cwd=edition, capture_output=True, text=True)
    assert "Student edition" in log.stdout


def test_edition_refuses_to_overwrite_without_force(demo_repo, edition):
    with pytest.raises(release.ReleaseError, match="use --force"):
        release.build(demo_repo, edition)
    release.build(demo_repo, edition, force=True)
    with pytest.raises(release.ReleaseError, match="refusing"):
        release.build(demo_repo, demo_repo, force=True)


def test_malformed_region_stops_the_release_naming_the_file(demo_repo, tmp_path, capsys):
    bad = demo_repo / "labs/lab9_demo/lab9_demo/bad.py"
    bad.write_text("# BEGIN TASK 9.4\nsecret = 1\n")
    subprocess.run(["git", "add", "-A"], cwd=demo_repo, check=True)
    assert main(["--root", str(demo_repo), "student", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "labs/lab9_demo/lab9_demo/bad.py:1: task 9.4 is never closed" in err


def test_leak_check_reads_the_written_tree(edition):
    secret = "total = first + second  # the reference sum"
    (edition / "labs/notes.txt").write_text(f"copied by mistake:\n    {secret}\n")
    (edition / "instructor").mkdir()
    (edition / "instructor/lab9.md").write_text("key\n")
    problems = release.leak_check(edition, {secret})
    assert any("labs/notes.txt:2: solution or instructor text" in p for p in problems)
    assert "instructor/lab9.md: instructor-only file" in problems


def test_leak_check_finds_internal_issue_numbers_and_unpaired_markers(edition):
    core = edition / "labs/lab9_demo/lab9_demo/core.py"
    core.write_text(core.read_text().replace("# END TASK 9.1\n", ""))
    (edition / "labs/notes.py").write_text(
        "# as measured in Issue 18.3\n# tensorflow issues 1816\n"
    )
    problems = release.leak_check(edition, set())
    assert "labs/notes.py:1: internal issue number 'Issue 18': '# as measured in Issue 18.3'" in (
        problems
    )
    assert not any("notes.py:2" in p for p in problems)  # an upstream project's issues
    assert any(
        p.startswith("labs/lab9_demo/lab9_demo/core.py:") and "never closed" in p for p in problems
    )


def test_classroom_workflow_uses_the_classroom_actions(edition):
    flow = yaml.safe_load((edition / ".github/workflows/classroom.yml").read_text())
    assert flow["on"] == ["push", "repository_dispatch", "workflow_dispatch"]
    assert flow["permissions"] == {}
    job = flow["jobs"]["run-autograding-tests"]
    assert job["permissions"] == {"contents": "read"}
    steps = job["steps"]
    assert all(re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", s["uses"]) for s in steps if "uses" in s)
    assert steps[0]["with"]["persist-credentials"] is False
    graders = [s for s in steps if s.get("uses") == classroom.COMMAND_GRADER]
    assert [(s["id"], s["with"]["max-score"]) for s in graders] == [
        ("lab9task1", 3),
        ("lab9task2", 2),
    ]  # the written task 9.3 is reviewed by hand, not autograded
    assert graders[0]["with"]["command"].endswith("check artifacts/grades/lab9.json 9.1")
    (reporter,) = [s for s in steps if s.get("uses") == classroom.REPORTER]
    assert reporter["with"]["runners"] == "lab9task1,lab9task2"
    assert reporter["env"]["LAB9TASK1_RESULTS"] == "${{steps.lab9task1.outputs.result}}"
    grading = [s for s in steps if s.get("run") == "make grade-9"]
    assert grading and grading[0]["timeout-minutes"] <= 5


def test_classroom_workflow_passes_zizmor(edition):
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).with_name("zizmor"))
    flow = edition / ".github/workflows/classroom.yml"
    run = subprocess.run([zizmor, "--offline", str(flow)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def commit_all(root):
    ident = ["-c", "user.name=s", "-c", "user.email=s@example.invalid"]
    subprocess.run(["git", *ident, "commit", "-qam", "work"], cwd=root, check=True)


def grade_demo(root, lab_root, tmp_path, name):
    return grade.grade(9, lab_root, submission=root, report=tmp_path / f"{name}.json")


def test_grading_instructor_fresh_and_restored(demo_repo, edition, tmp_path):
    ours = grade.grade(9, demo_repo, report=tmp_path / "instructor.json")
    assert (ours["total"], ours["max"]) == (5, 5)
    assert ours["tasks"]["9.1"]["points"] == 3 and ours["warnings"] == []
    assert ours["to_review"] == {
        "9.3": {"title": "Explain the result", "points": 4, "answers": "answers/lab9.md"}
    }

    fresh = grade_demo(edition, demo_repo, tmp_path, "fresh")
    assert (fresh["total"], fresh["max"]) == (0, 5)
    assert fresh["student"] == "student" and fresh["artifacts"].startswith("trained") is False
    hidden = [c for c in fresh["checks"] if "hidden" in c["name"]]
    assert hidden and not hidden[0]["passed"]  # the instructor's hidden check ran on it
    assert "task 9.1 not implemented" in fresh["checks"][0]["message"] + hidden[0]["message"]

    done = release.restore(edition, demo_repo)
    assert sorted(done) == ["9.1", "9.2"]
    uncommitted = grade_demo(edition, demo_repo, tmp_path, "uncommitted")
    assert (uncommitted["total"], uncommitted["max"]) == (0, 5)  # HEAD is what is graded
    commit_all(edition)
    restored = grade_demo(edition, demo_repo, tmp_path, "restored")
    assert (restored["total"], restored["max"]) == (5, 5)
    assert restored["commit"] != fresh["commit"] and len(restored["commit"]) == 40


def test_submission_code_is_what_gets_imported(demo_repo, edition, tmp_path):
    core = edition / "labs/lab9_demo/lab9_demo/core.py"
    core.write_text(
        core.read_text().replace(
            '    raise TaskNotImplemented("task 9.1 not implemented: add")',
            "    return sum((first, second))",
        )
    )
    (edition / "tests/lab9/test_core.py").write_text("def test_cheat():\n    assert True\n")
    commit_all(edition)
    data = grade_demo(edition, demo_repo, tmp_path, "alice")
    assert data["tasks"]["9.1"]["points"] == 3 and data["tasks"]["9.2"]["points"] == 0
    assert not any("cheat" in c["name"] for c in data["checks"])  # our checks, not theirs


def test_check_command_for_classroom(demo_repo, tmp_path, capsys):
    report = tmp_path / "r.json"
    grade.grade(9, demo_repo, report=report)
    assert classroom.check_command(report, "9.1") == 0
    data = json.loads(report.read_text())
    data["tasks"]["9.2"]["checks"][0]["passed"] = False
    report.write_text(json.dumps(data))
    assert classroom.check_command(report, "9.2") == 1
    assert "FAIL tests/lab9/test_core.py::test_greeting" in capsys.readouterr().out
    assert classroom.check_command(tmp_path / "missing.json", "9.1") == 1
