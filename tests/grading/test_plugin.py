"""The grading plugin, tested with pytester (a pytest run inside the test)."""

import json

pytest_plugins = ["pytester"]

SAMPLE = """
import pytest

@pytest.mark.points(3)
def test_passes():
    assert True

@pytest.mark.points(2)
def test_fails():
    assert 1 == 2, "one is not two"

def test_unmarked_counts_one():
    pass

@pytest.mark.points(4)
@pytest.mark.skip(reason="needs redis")
def test_skipped():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

@pytest.mark.points(5)
def test_setup_error(broken):
    pass
"""


def run(pytester, *args):
    pytester.makepyfile(test_sample=SAMPLE)
    report = pytester.path / "out" / "grade.json"
    result = pytester.runpytest(f"--grade-report={report}", *args)
    return result, json.loads(report.read_text())


def test_report_totals_and_checks(pytester):
    result, data = run(pytester, "--grade-lab=lab9")
    result.assert_outcomes(passed=2, failed=1, skipped=1, errors=1)
    assert data["lab"] == "lab9"
    assert data["max"] == 3 + 2 + 1 + 4 + 5
    assert data["total"] == 3 + 1
    checks = {c["name"].split("::")[-1]: c for c in data["checks"]}
    assert checks["test_passes"] == {**checks["test_passes"], "points": 3, "passed": True}
    assert (
        checks["test_fails"]["passed"] is False
        and "one is not two" in checks["test_fails"]["message"]
    )
    assert checks["test_skipped"]["message"] == "skipped: needs redis"
    assert "fixture exploded" in checks["test_setup_error"]["message"]
    assert checks["test_setup_error"]["message"].startswith("error in setup")
    assert "grade lab9: 4/15 points" in result.stdout.str()


def test_lab_is_inferred_as_course_without_lab_paths(pytester):
    _, data = run(pytester)
    assert data["lab"] == "course"


def test_bad_points_marker_is_a_usage_error(pytester):
    pytester.makepyfile(test_bad="import pytest\n@pytest.mark.points('many')\ndef test_x(): pass\n")
    result = pytester.runpytest("--grade-report=g.json")
    assert result.ret != 0
    assert "use @pytest.mark.points(n)" in result.stdout.str() + result.stderr.str()


def test_no_report_without_option(pytester):
    pytester.makepyfile(test_sample=SAMPLE)
    pytester.runpytest()
    assert not list(pytester.path.rglob("*.json"))


TASKS_README = """\
# Lab 9

## Your tasks
### Task 9.1 — Add (3 points)
### Task 9.2 — Nothing passes here (2 points)
### Task 9.3 — Explain (4 points, written, reviewed by hand)
### Task 9.4 — Wrong points (5 points)
"""

TASK_CHECKS = """
import pytest

@pytest.mark.task("9.1")
@pytest.mark.points(2)
def test_add():
    assert True

@pytest.mark.task("9.1")
@pytest.mark.points(1)
def test_add_more():
    assert True

@pytest.mark.task("9.2")
@pytest.mark.points(2)
def test_nothing():
    raise NotImplementedError("task 9.2 not implemented: nothing")

@pytest.mark.task("9.4")
@pytest.mark.points(1)
def test_wrong_points():
    assert True

@pytest.mark.task("9.7")
@pytest.mark.points(1)
def test_unannounced():
    assert True

@pytest.mark.points(0)
def test_internals():
    assert True
"""


def run_tasks(pytester, *args):
    pytester.makefile(".md", **{"labs/lab9_demo/README": TASKS_README})
    pytester.makepyfile(test_tasks=TASK_CHECKS)
    report = pytester.path / "grade.json"
    result = pytester.runpytest(f"--grade-report={report}", "--grade-lab=lab9", *args)
    return result, json.loads(report.read_text())


def test_report_has_per_task_points_from_the_readme(pytester):
    result, data = run_tasks(pytester, "--grade-student=alice")
    assert data["student"] == "alice"
    assert (data["total"], data["max"]) == (5, 7)
    tasks = data["tasks"]
    assert list(tasks) == ["9.1", "9.2", "9.4", "9.7"]
    assert tasks["9.1"] | {"checks": None} == {
        "title": "Add",
        "points": 3,
        "max": 3,
        "readme_points": 3,
        "checks": None,
    }
    assert [c["passed"] for c in tasks["9.1"]["checks"]] == [True, True]
    assert (tasks["9.2"]["points"], tasks["9.2"]["max"]) == (0, 2)
    assert data["to_review"] == {
        "9.3": {"title": "Explain", "points": 4, "answers": "answers/lab9.md"}
    }
    assert data["warnings"] == [
        "task 9.4: the README gives 5 points, its checks carry 1",
        "task 9.7 has checks but no '### Task 9.7' heading in the README",
    ]
    assert "grade warning: task 9.4" in result.stdout.str()
    checks = {c["name"].split("::")[-1]: c for c in data["checks"]}
    assert checks["test_add"]["task"] == "9.1" and checks["test_internals"]["task"] is None


def test_a_task_without_checks_still_appears(pytester):
    pytester.makefile(".md", **{"labs/lab9_demo/README": TASKS_README})
    pytester.makepyfile(test_none="import pytest\n@pytest.mark.points(0)\ndef test_x(): pass\n")
    report = pytester.path / "g.json"
    pytester.runpytest(f"--grade-report={report}", "--grade-lab=lab9")
    data = json.loads(report.read_text())
    assert data["tasks"]["9.2"] == {
        "title": "Nothing passes here",
        "points": 0,
        "max": 0,
        "readme_points": 2,
        "checks": [],
    }
    assert "task 9.2: the README gives 2 points, its checks carry 0" in data["warnings"]


def test_readme_can_be_given_explicitly(pytester):
    readme = pytester.makefile(".md", elsewhere=TASKS_README)
    pytester.makepyfile(test_tasks=TASK_CHECKS)
    report = pytester.path / "g.json"
    pytester.runpytest(f"--grade-report={report}", f"--grade-readme={readme}")
    assert json.loads(report.read_text())["tasks"]["9.1"]["title"] == "Add"


def test_bad_task_marker_is_a_usage_error(pytester):
    pytester.makepyfile(test_bad="import pytest\n@pytest.mark.task(1.3)\ndef test_x(): pass\n")
    result = pytester.runpytest("--grade-report=g.json")
    assert result.ret != 0
    assert 'use @pytest.mark.task("N.M")' in result.stdout.str() + result.stderr.str()


def test_isolated_grading_leaves_out_points_0_checks(pytester):
    pytester.makepyfile(
        test_internal="import pytest\n@pytest.mark.points(0)\ndef test_probe(): pass\n"
    )
    result, data = run(pytester, "--grade-isolated")
    result.assert_outcomes(passed=2, failed=1, skipped=1, errors=1)  # test_probe not run
    assert not any("test_probe" in c["name"] for c in data["checks"])
    assert data["left_out"] == "1 points-0 checks of internals (not graded)"
