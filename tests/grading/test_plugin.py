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
