"""The tasks a lab README announces: ``### Task N.M — <title> (<P> points)``.

The README is the contract students read, so the report takes task titles and points from it:
a task whose checks all fail (or that has none) still shows up with its points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HEADING = re.compile(
    r"^###\s+Task\s+(?P<task>\d+\.\d+)\s*[—–-]+\s*(?P<title>.*?)\s*"
    r"\((?P<points>\d+(?:\.\d+)?)\s*points?(?P<extra>[^)]*)\)(?P<after>.*)$"
)
_ANY_TASK_HEADING = re.compile(r"^#{2,4}\s+Task\s+\d+\.\d+")
WRITTEN = "reviewed by hand"


@dataclass(frozen=True)
class TaskInfo:
    task: str
    title: str
    points: float
    written: bool


class ReadmeError(ValueError):
    pass


_WRITTEN_NOTE = re.compile(r"\s*\((?:written,\s*)?reviewed by hand\)", re.IGNORECASE)


def _written(heading: re.Match[str], body: list[str]) -> bool:
    if WRITTEN in (heading["title"] + heading["extra"] + heading["after"]).lower():
        return True
    return any("(written, reviewed by hand)" in line.lower() for line in body)


def parse_tasks(text: str, source: str = "README.md") -> dict[str, TaskInfo]:
    """Tasks in README order; a ``### Task`` heading that does not parse is an error."""
    lines = text.splitlines()
    found: list[tuple[re.Match[str], int]] = []
    for i, line in enumerate(lines):
        if not _ANY_TASK_HEADING.match(line):
            continue
        m = _HEADING.match(line.strip())
        if m is None:
            raise ReadmeError(
                f"{source}:{i + 1}: task heading must read "
                f"'### Task N.M — <title> (<P> points)': {line.strip()!r}"
            )
        found.append((m, i))
    tasks: dict[str, TaskInfo] = {}
    for k, (m, i) in enumerate(found):
        stop = found[k + 1][1] if k + 1 < len(found) else len(lines)
        body = []
        for line in lines[i + 1 : stop]:
            if line.startswith("## "):
                break
            body.append(line)
        if m["task"] in tasks:
            raise ReadmeError(f"{source}:{i + 1}: task {m['task']} is announced twice")
        points = float(m["points"])
        tasks[m["task"]] = TaskInfo(
            m["task"],
            _WRITTEN_NOTE.sub("", m["title"]).strip(),
            int(points) if points.is_integer() else points,
            _written(m, body),
        )
    return tasks


def lab_dir(root: Path, lab: str) -> Path | None:
    """``labs/labN_*`` for ``labN`` (or ``N``), if the repository has it."""
    number = lab.removeprefix("lab")
    hits = sorted((root / "labs").glob(f"lab{number}_*"))
    return hits[0] if hits else None


def read_tasks(readme: Path) -> dict[str, TaskInfo]:
    return parse_tasks(readme.read_text(encoding="utf-8"), str(readme))
