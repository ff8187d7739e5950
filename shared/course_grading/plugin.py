"""pytest plugin: ``@pytest.mark.points(n)`` weights a check; ``--grade-report=PATH`` writes

    {"lab": "lab1", "total": 17, "max": 20,
     "checks": [{"name", "points", "passed", "message", "task"}],
     "tasks": {"1.3": {"title", "points", "max", "readme_points", "checks": [...]}},
     "to_review": {"1.6": {"title", "points", "answers"}}, "warnings": [...]}

Unmarked tests count one point. A test that fails in setup, call or teardown scores 0; a skipped
test scores 0 with the skip reason as its message (graders see why, nothing is silently dropped).
``@pytest.mark.task("1.3")`` files a check under a task of the lab README (``### Task 1.3 — ...
(P points)``, found from ``--grade-readme`` or ``labs/<lab>_*/README.md``), so a task with no
passing check still appears; written tasks (``reviewed by hand``) are listed under ``to_review``
and kept out of the automatic total. Loaded automatically through the ``pytest11`` entry point.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from course_grading.readme import TaskInfo, lab_dir, read_tasks

TASK_RE = re.compile(r"^\d+\.\d+$")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("course-grading")
    group.addoption("--grade-report", metavar="PATH", help="write a JSON grade report to PATH")
    group.addoption(
        "--grade-lab", metavar="NAME", help="lab name for the report (default: inferred)"
    )
    group.addoption(
        "--grade-readme",
        metavar="PATH",
        help="lab README announcing the tasks (default: labs/<lab>_*/README.md under the rootdir)",
    )
    group.addoption("--grade-student", metavar="NAME", help="student name stored in the report")
    group.addoption(
        "--grade-isolated",
        action="store_true",
        help="grading a sandboxed submission: leave out the points-0 checks (they probe "
        "internals in-process, i.e. the grader's own code, not the submission's)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): grading weight of a check")
    config.addinivalue_line("markers", 'task("N.M"): the README task a graded check belongs to')
    config.pluginmanager.register(Grader(config), "course-grader")


def points_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("points")
    if marker is None:
        return 1.0
    if len(marker.args) != 1 or not isinstance(marker.args[0], int | float) or marker.args[0] < 0:
        raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.points(n) with one number n >= 0")
    return float(marker.args[0])


def task_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("task")
    if marker is None:
        return None
    if len(marker.args) != 1 or not TASK_RE.match(
        marker.args[0] if isinstance(marker.args[0], str) else ""
    ):
        raise pytest.UsageError(f'{item.nodeid}: use @pytest.mark.task("N.M"), e.g. task("1.3")')
    return str(marker.args[0])


def _short(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return "skipped: " + str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message.strip().splitlines()[0][:500] if crash.message.strip() else ""
    return str(report.longrepr).strip().splitlines()[-1][:500] if report.longrepr else ""


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class Grader:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.checks: dict[str, dict[str, Any]] = {}
        self.left_out = 0

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]):
        if not config.getoption("--grade-isolated"):
            return
        keep = [item for item in items if points_of(item) > 0]
        dropped = [item for item in items if points_of(item) == 0]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
            self.left_out = len(dropped)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # After -k/-m deselection: a check left out on purpose is not a failed one.
        for item in session.items:
            self.checks[item.nodeid] = {
                "name": item.nodeid,
                "points": points_of(item),
                "passed": None,
                "message": "",
                "task": task_of(item),
            }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        check = self.checks.get(report.nodeid)
        if check is None:
            return
        if report.failed or report.skipped:
            check["passed"] = False
            if not check["message"]:
                where = (
                    f"error in {report.when}: " if report.when != "call" and report.failed else ""
                )
                check["message"] = where + _short(report)
        elif report.when == "call" and check["passed"] is None:
            check["passed"] = True

    def lab(self, checks: list[dict[str, Any]]) -> str:
        labs = {m.group(1) for c in checks if (m := re.search(r"tests/(lab\d)", c["name"]))}
        return self.config.getoption("--grade-lab") or (
            next(iter(labs)) if len(labs) == 1 else ("all" if labs else "course")
        )

    def readme_tasks(self, lab: str, warnings: list[str]) -> dict[str, TaskInfo]:
        option = self.config.getoption("--grade-readme")
        if option:
            readme = Path(option)
        else:
            folder = lab_dir(self.config.rootpath, lab) if re.fullmatch(r"lab\d+", lab) else None
            readme = folder / "README.md" if folder else None
        if readme is None or not readme.is_file():
            if option or any(c["task"] for c in self.checks.values()):
                warnings.append(f"no lab README with task headings found ({readme or lab})")
            return {}
        return read_tasks(readme)

    def report(self) -> dict[str, Any]:
        checks = list(self.checks.values())
        for check in checks:
            if check["passed"] is None:
                check["passed"] = False
                check["message"] = check["message"] or "not run"
        lab = self.lab(checks)
        warnings: list[str] = []
        announced = self.readme_tasks(lab, warnings)
        written = {t for t, info in announced.items() if info.written}
        auto = [c for c in checks if c["task"] not in written]
        data: dict[str, Any] = {"lab": lab}
        if self.config.getoption("--grade-student"):
            data["student"] = self.config.getoption("--grade-student")
        data |= {
            "total": _num(sum(c["points"] for c in auto if c["passed"])),
            "max": _num(sum(c["points"] for c in auto)),
            "checks": [{**c, "points": _num(c["points"])} for c in checks],
            "tasks": task_table(announced, checks, warnings),
            "to_review": {
                t: {"title": info.title, "points": info.points, "answers": f"answers/{lab}.md"}
                for t, info in announced.items()
                if info.written
            },
            "warnings": warnings,
        }
        if self.left_out:
            data["left_out"] = f"{self.left_out} points-0 checks of internals (not graded)"
        return data

    def pytest_sessionfinish(self) -> None:
        path = self.config.getoption("--grade-report")
        if not path:
            return
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        data = self.report()
        out.write_text(json.dumps(data, indent=2) + "\n")
        self.summary = f"grade {data['lab']}: {data['total']}/{data['max']} points -> {out}"
        for warning in data["warnings"]:
            self.summary += f"\ngrade warning: {warning}"

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if getattr(self, "summary", None):
            terminalreporter.write_line(self.summary)


def task_table(
    announced: dict[str, TaskInfo], checks: list[dict[str, Any]], warnings: list[str]
) -> dict[str, dict[str, Any]]:
    """Per-task points, in README order, then tasks only the checks mention."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for check in checks:
        if check["task"] is not None:
            by_task.setdefault(check["task"], []).append(check)
    table: dict[str, dict[str, Any]] = {}
    for task in [*announced, *sorted(set(by_task) - set(announced))]:
        info = announced.get(task)
        mine = by_task.get(task, [])
        carried = sum(c["points"] for c in mine)
        if info is None:
            warnings.append(
                f"task {task} has checks but no '### Task {task}' heading in the README"
            )
        elif info.written:
            if carried:
                warnings.append(
                    f"task {task} is written (reviewed by hand) but checks carry points"
                )
            continue
        elif carried != info.points:
            warnings.append(
                f"task {task}: the README gives {_num(info.points)} points, "
                f"its checks carry {_num(carried)}"
            )
        table[task] = {
            "title": info.title if info else "",
            "points": _num(sum(c["points"] for c in mine if c["passed"])),
            "max": _num(carried),
            "readme_points": _num(info.points) if info else None,
            "checks": [
                {
                    "name": c["name"],
                    "points": _num(c["points"]),
                    "passed": c["passed"],
                    "message": c["message"],
                }
                for c in mine
            ],
        }
    return table
