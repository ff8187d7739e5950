"""pytest plugin: ``@pytest.mark.points(n)`` weights a check; ``--grade-report=PATH`` writes

    {"lab": "lab1", "total": 17, "max": 20, "checks": [{"name", "points", "passed", "message"}]}

Unmarked tests count one point. A test that fails in setup, call or teardown scores 0; a skipped
test scores 0 with the skip reason as its message (graders see why, nothing is silently dropped).
Loaded automatically through the ``pytest11`` entry point of this project.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("course-grading")
    group.addoption("--grade-report", metavar="PATH", help="write a JSON grade report to PATH")
    group.addoption(
        "--grade-lab", metavar="NAME", help="lab name for the report (default: inferred)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): grading weight of a check")
    config.pluginmanager.register(Grader(config), "course-grader")


def points_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("points")
    if marker is None:
        return 1.0
    if len(marker.args) != 1 or not isinstance(marker.args[0], int | float) or marker.args[0] < 0:
        raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.points(n) with one number n >= 0")
    return float(marker.args[0])


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

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.checks[item.nodeid] = {
                "name": item.nodeid,
                "points": points_of(item),
                "passed": None,
                "message": "",
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

    def report(self) -> dict[str, Any]:
        checks = list(self.checks.values())
        for check in checks:
            if check["passed"] is None:
                check["passed"] = False
                check["message"] = check["message"] or "not run"
        labs = {m.group(1) for c in checks if (m := re.search(r"tests/(lab\d)", c["name"]))}
        lab = self.config.getoption("--grade-lab") or (
            next(iter(labs)) if len(labs) == 1 else ("all" if labs else "course")
        )
        return {
            "lab": lab,
            "total": _num(sum(c["points"] for c in checks if c["passed"])),
            "max": _num(sum(c["points"] for c in checks)),
            "checks": [{**c, "points": _num(c["points"])} for c in checks],
        }

    def pytest_sessionfinish(self) -> None:
        path = self.config.getoption("--grade-report")
        if not path:
            return
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        data = self.report()
        out.write_text(json.dumps(data, indent=2) + "\n")
        self.summary = f"grade {data['lab']}: {data['total']}/{data['max']} points -> {out}"

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if getattr(self, "summary", None):
            terminalreporter.write_line(self.summary)
