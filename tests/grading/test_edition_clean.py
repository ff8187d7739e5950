"""The real repository's student edition, as a student gets it: `make lint` clean (ruff check
and ruff format), each stub between its task markers, no internal issue numbers, and restore
giving back the instructor's files byte for byte."""

import subprocess
import sys
from pathlib import Path

import pytest

from course_grading import release
from course_grading.regions import marked_regions, read_lines

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "student"
    return out, release.build(REPO, out, git=False)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_fresh_edition_is_lint_and_format_clean(edition, command):
    out, _ = edition
    run = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", "."],
        cwd=out,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_stub_sits_between_its_markers(edition):
    out, built = edition
    found = {}
    for rel in release.instructor_regions(REPO):
        for mark in marked_regions(read_lines(out / rel), rel):
            found[mark.task] = found.get(mark.task, 0) + 1
    assert found == dict(built.regions)
    assert release.leak_check(out, built.secrets) == []


def test_restore_gives_back_the_instructor_files(edition, tmp_path):
    out, _ = edition
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(out), str(copy)], check=True)
    release.restore(copy, REPO)
    for rel in release.instructor_regions(REPO):
        assert (copy / rel).read_text() == (REPO / rel).read_text(), rel
