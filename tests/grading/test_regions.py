"""The region parser, replacer and restorer on small inputs (BRIEF §3's marker format)."""

import pytest

from course_grading.readme import ReadmeError, parse_tasks
from course_grading.regions import (
    RegionError,
    is_trivial,
    parse_regions,
    restore_lines,
    student_version,
)

SOURCE = """\
def route():
    x = 1
    # BEGIN TASK 1.3: v2 route that keeps v1 byte-compatible
    body = compute_the_v2_answer(x)
    return body
    # STUB
    # raise TaskNotImplemented("1.3", "the v2 predict route")
    #
    # return None
    # END TASK 1.3
    return x
"""


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def test_region_is_replaced_by_its_uncommented_stub():
    out = student_version(lines(SOURCE), "app.py")
    assert "".join(out.lines) == (
        "def route():\n"
        "    x = 1\n"
        "    # BEGIN TASK 1.3: v2 route that keeps v1 byte-compatible\n"
        '    raise TaskNotImplemented("1.3", "the v2 predict route")\n'
        "\n"
        "    return None\n"
        "    # END TASK 1.3\n"
        "    return x\n"
    )
    (region,) = out.regions
    assert (region.task, region.title) == ("1.3", "v2 route that keeps v1 byte-compatible")
    assert "    body = compute_the_v2_answer(x)\n" in out.secret


def test_config_file_regions_and_title_optional():
    text = "port=1\n# BEGIN TASK 3.2\nbatch_size=8\n# STUB\n# batch_size=1\n# END TASK 3.2\n"
    out = student_version(lines(text), "config.properties")
    assert out.lines == ["port=1\n", "# BEGIN TASK 3.2\n", "batch_size=1\n", "# END TASK 3.2\n"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("# BEGIN TASK 1.1\nx\n# STUB\n# pass\n", 1, "never closed"),
        ("# BEGIN TASK 1.1\n# BEGIN TASK 1.2\n", 2, "do not nest"),
        ("# BEGIN TASK 1.1\nx = 1\n# END TASK 1.1\n", 3, "no STUB"),
        ("# BEGIN TASK 1.1\n# STUB\n# pass\n# END TASK 1.2\n", 4, "closes BEGIN TASK 1.1"),
        ("x\n# END TASK 1.1\n", 2, "without a BEGIN"),
        ("# STUB\n", 1, "outside a task region"),
        ("# BEGIN TASK 1.1\n# STUB\n# STUB\n# END TASK 1.1\n", 3, "second STUB"),
        ("# BEGIN TASK 1.1\nx\n# STUB\n\n# END TASK 1.1\n", 3, "STUB is empty"),
        ("    # BEGIN TASK 1.1\n    x\n    # STUB\n  pass\n    # END TASK 1.1\n", 4, "comment"),
        ("# BEGIN TASK1.1\n", 1, "malformed task marker"),
        ("### BEGIN TASK 1.1\n", 1, "malformed task marker"),
        ("# end task 1.1\n", 1, "malformed task marker"),
        ("# BEGIN TASK 1.1\nx\n## STUB\n", 3, "malformed task marker"),
    ],
)
def test_malformed_regions_fail_naming_file_and_line(text, line, message):
    with pytest.raises(RegionError, match=message) as info:
        parse_regions(lines(text), "labs/x.py")
    assert str(info.value).startswith(f"labs/x.py:{line}: ")


def test_instructor_blocks_are_dropped_and_kept_secret():
    md = "# T\n<!-- BEGIN INSTRUCTOR -->\nthe key\n<!-- END INSTRUCTOR -->\nend\n"
    out = student_version(lines(md), "README.md")
    assert out.lines == ["# T\n", "end\n"] and "the key\n" in out.secret
    mk = "a:\n# BEGIN INSTRUCTOR\nstudent:\n# END INSTRUCTOR\n"
    assert student_version(lines(mk), "Makefile").lines == ["a:\n"]
    with pytest.raises(RegionError, match=r"README\.md:2: instructor block is never closed"):
        student_version(lines("x\n<!-- BEGIN INSTRUCTOR -->\n"), "README.md")


def test_stub_lines_may_mention_stub_and_tasks():
    text = "# BEGIN TASK 2.1\nx = 1\n# STUB\n#     stub = make_stub()\n# END TASK 2.1\n"
    assert student_version(lines(text), "m.py").lines[1] == "    stub = make_stub()\n"


def test_markdown_is_not_parsed_for_task_regions():
    text = "```python\n# BEGIN TASK 1.1\n```\n"
    assert student_version(lines(text), "DEVELOPERS.md").lines == lines(text)


def test_restore_puts_regions_back_by_task():
    two = SOURCE + "\n" + SOURCE.replace("1.3", "1.4").replace("route", "other")
    student = student_version(lines(two), "app.py").lines
    back, done = restore_lines(student, lines(two), "app.py")
    assert "".join(back) == two and done == ["1.3", "1.4"]
    only, done = restore_lines(student, lines(two), "app.py", tasks=["1.4"])
    assert done == ["1.4"]
    assert "compute_the_v2_answer" in "".join(only[10:])
    assert 'raise TaskNotImplemented("1.3"' in "".join(only[:10])
    # a second restore finds 1.3's stub between its markers and leaves 1.4's solution alone
    both, done = restore_lines(only, lines(two), "app.py", tasks=["1.3"])
    assert "".join(both) == two and done == ["1.3"]


def test_restore_finds_a_common_stub_by_its_markers():
    text = (
        "def a():\n    pass\n\n"
        "def b():\n    # BEGIN TASK 2.1\n    return 2\n    # STUB\n    # pass\n    # END TASK 2.1\n"
    )
    student = student_version(lines(text), "m.py").lines
    back, _ = restore_lines(student, lines(text), "m.py")
    assert "".join(back) == text


def test_restore_takes_the_lines_outside_regions_from_the_instructor():
    """The release's ruff prunes imports only a solution used and reformats around stubs."""
    text = "import os\nimport sys\n\n\n" + SOURCE.replace("x = 1", "x = os.sep")
    student = student_version(lines(text), "app.py").lines[1:]  # `import os` pruned
    student = [line.replace("    return None\n", "    return None  # mine\n") for line in student]
    back, done = restore_lines(student, lines(text), "app.py")
    assert "".join(back) == text and done == ["1.3"]
    keep, done = restore_lines(student, lines(text), "app.py", tasks=[])
    assert done == [] and "    return None  # mine\n" in keep  # the student's region stays


@pytest.mark.parametrize(
    ("student", "message"),
    [
        ("def route():\n    x = 1\n    return 42\n    return x\n", r"markers of task 1\.3 not"),
        ("# BEGIN TASK 1.4\npass\n# END TASK 1.4\n", r"markers of task 1\.3 not found"),
        ("# BEGIN TASK 1.3\npass\n", "never closed"),
    ],
)
def test_restore_refuses_markers_edited_away(student, message):
    with pytest.raises(RegionError, match=message):
        restore_lines(lines(student), lines(SOURCE), "app.py")


def test_trivial_lines_are_not_leaks():
    for line in ["", "pass", ")", "]},", "return x", "else:"]:
        assert is_trivial(line)
    assert not is_trivial("body = compute_the_v2_answer(x)")


README = """\
## Your tasks
### Task 1.1 — Lifespan loading and /ready (4 points)
Do it.
### Task 1.2 – The request model (3.5 points)
### Task 1.5 — Diagnose a slow route (5 points) (written, reviewed by hand)
### Task 1.6 — Measure it (2 points)
Write it down in answers/lab1.md (written, reviewed by hand).
## Exercises
"""


def test_readme_tasks_titles_points_and_written():
    tasks = parse_tasks(README)
    assert list(tasks) == ["1.1", "1.2", "1.5", "1.6"]
    assert tasks["1.1"].title == "Lifespan loading and /ready" and tasks["1.1"].points == 4
    assert tasks["1.2"].points == 3.5
    assert [t for t, i in tasks.items() if i.written] == ["1.5", "1.6"]


def test_readme_bad_task_heading_is_an_error():
    with pytest.raises(ReadmeError, match=r"README\.md:1: task heading must read"):
        parse_tasks("### Task 1.1 Lifespan loading, 4 points\n")
