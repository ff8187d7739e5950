"""End to end on the real lab 1: the instructor tree scores the maximum, the fresh student edition
at most 15 %, the edition with its regions restored the maximum again, and no solution line or
instructor-only file is in the edition. Starts real uvicorn servers (the lab's own fixtures)."""

from pathlib import Path

import pytest

from course_grading import grade, release

REPO = Path(__file__).resolve().parents[2]
LAB = 1

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "student"
    built = release.build(REPO, out, git=False)
    assert any(t.startswith(f"{LAB}.") for t in built.regions), "lab 1 has no task regions"
    return out, built


def test_no_solution_text_or_instructor_file_in_the_edition(edition):
    out, built = edition
    assert built.secrets, "the lab's regions hold no non-trivial solution line to look for"
    assert release.leak_check(out, built.secrets) == []
    assert not list(out.glob("tests/*/hidden")) and not (out / "instructor").exists()


def test_instructor_fresh_and_restored_scores(edition, tmp_path):
    out, _ = edition
    ours = grade.grade(LAB, REPO, report=tmp_path / "instructor.json")
    assert ours["max"] > 0 and ours["total"] == ours["max"], grade.summary(ours)
    fresh = grade.grade(LAB, REPO, submission=out, report=tmp_path / "fresh.json")
    assert fresh["max"] == ours["max"]
    assert fresh["total"] <= 0.15 * fresh["max"], grade.summary(fresh)
    release.restore(out, REPO)
    restored = grade.grade(LAB, REPO, submission=out, report=tmp_path / "restored.json")
    assert restored["total"] == restored["max"] == ours["max"], grade.summary(restored)
    for name, data in (("instructor", ours), ("fresh", fresh), ("restored", restored)):
        print(f"{name}: {grade.summary(data)}")  # the figures (and times) for the report
