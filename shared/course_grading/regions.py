"""Task regions in source files: parse, replace by their stubs, and put solutions back.

A region is a solution between ``BEGIN TASK N.M`` and ``END TASK N.M`` comment lines, followed
inside the region by a ``STUB`` comment line and the stub as comments (see the course BRIEF §3
and DEVELOPERS.md). Like nbgrader's solution delimiters, the markers are plain comments, so the
instructor tree runs as written; unlike nbgrader the stub is written by the author, next to the
solution, because a service stub must keep the lab startable (a 501, not a crash).

The student edition keeps each region's ``BEGIN TASK`` and ``END TASK`` lines around its stub, so
students find every task by its marker and ``restore`` finds every region by its number, whatever
the release's formatter did to the lines around it. Instructor-only blocks (``BEGIN INSTRUCTOR`` /
``END INSTRUCTOR``, as ``#`` comments or as Markdown ``<!-- -->`` comments) are dropped from the
student edition with their content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TASK_ID = r"\d+\.\d+"
BEGIN_RE = re.compile(
    rf"^(?P<indent>[ \t]*)#[ \t]*BEGIN[ \t]+TASK[ \t]+(?P<task>{TASK_ID})\b(?P<rest>.*)$"
)
STUB_RE = re.compile(r"^(?P<indent>[ \t]*)#[ \t]*STUB[ \t]*$")
END_RE = re.compile(rf"^(?P<indent>[ \t]*)#[ \t]*END[ \t]+TASK[ \t]+(?P<task>{TASK_ID})[ \t]*$")
# Anything that looks like a task marker: a line that matches this but none of the exact
# patterns above is a typo, and a typo would ship a solution, so it is an error.
_LOOSE = re.compile(
    r"^[ \t]*#+[ \t]*(?i:BEGIN|END)[ \t_-]*(?i:TASK)[ \t_-]*\d|^[ \t]*#+[ \t]*STUB\b(?![ \t]*\w)"
)
HASH_INSTRUCTOR_RE = re.compile(r"^[ \t]*#[ \t]*(BEGIN|END)[ \t]+INSTRUCTOR[ \t]*$")
MD_INSTRUCTOR_RE = re.compile(r"^[ \t]*<!--[ \t]*(BEGIN|END)[ \t]+INSTRUCTOR[ \t]*-->[ \t]*$")
_LOOSE_INSTRUCTOR = re.compile(r"(BEGIN|END)[ \t_-]*INSTRUCTOR", re.IGNORECASE)
MARKDOWN_SUFFIXES = (".md", ".markdown")


class RegionError(ValueError):
    """A malformed region; the message names the file and line, so the release stops loudly."""

    def __init__(self, path: str | Path, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line


@dataclass
class Region:
    task: str
    title: str
    indent: str
    begin: int  # 0-based index of the BEGIN line
    end: int  # 0-based index of the END line
    solution: list[str] = field(default_factory=list)  # lines between BEGIN and STUB
    stub: list[str] = field(default_factory=list)  # the stub as it appears in the edition

    def original(self, lines: Sequence[str]) -> list[str]:
        return list(lines[self.begin : self.end + 1])


def _uncomment(raw: str, indent: str, path: str | Path, lineno: int) -> str:
    if not raw.strip():
        return raw
    if not raw.startswith(indent + "#"):
        raise RegionError(path, lineno, "stub line must be a comment at the marker's indentation")
    body = raw[len(indent) + 1 :]
    body = body[1:] if body.startswith(" ") else body
    return indent + body if body.strip() else body.lstrip(" \t")


class _Parser:
    """One pass over a file's lines; a small state machine so each check is one method."""

    def __init__(self, path: str | Path):
        self.path = path
        self.regions: list[Region] = []
        self.open: Region | None = None
        self.in_stub = False
        self.stub_line = 0

    def begin(self, m: re.Match[str], i: int) -> None:
        if self.open is not None:
            raise RegionError(
                self.path, i + 1, f"regions do not nest: task {self.open.task} is still open"
            )
        title = m["rest"].lstrip(" \t:").strip()
        self.open = Region(m["task"], title, m["indent"], i, -1)
        self.in_stub = False

    def stub(self, i: int) -> None:
        if self.open is None:
            raise RegionError(self.path, i + 1, "STUB outside a task region")
        if self.in_stub:
            raise RegionError(self.path, i + 1, f"second STUB in task {self.open.task}")
        self.in_stub, self.stub_line = True, i + 1

    def end(self, m: re.Match[str], i: int) -> None:
        region = self.open
        if region is None:
            raise RegionError(self.path, i + 1, f"END TASK {m['task']} without a BEGIN")
        if m["task"] != region.task:
            raise RegionError(
                self.path,
                i + 1,
                f"END TASK {m['task']} closes BEGIN TASK {region.task} (line {region.begin + 1})",
            )
        if not self.in_stub:
            raise RegionError(self.path, i + 1, f"task {region.task} has no STUB section")
        if not any(line.strip() for line in region.stub):
            raise RegionError(self.path, self.stub_line, f"task {region.task}: the STUB is empty")
        region.end = i
        self.regions.append(region)
        self.open = None

    def line(self, raw: str, i: int) -> None:
        region = self.open
        if region is None:
            return
        if self.in_stub:
            region.stub.append(_uncomment(raw, region.indent, self.path, i + 1))
        else:
            region.solution.append(raw)


def parse_regions(lines: Sequence[str], path: str | Path = "<text>") -> list[Region]:
    """The task regions of a file, validated; raises RegionError naming file and line."""
    parser = _Parser(path)
    for i, raw in enumerate(lines):
        if m := BEGIN_RE.match(raw):
            parser.begin(m, i)
        elif STUB_RE.match(raw):
            parser.stub(i)
        elif m := END_RE.match(raw):
            parser.end(m, i)
        elif _LOOSE.match(raw):
            raise RegionError(path, i + 1, f"malformed task marker: {raw.strip()!r}")
        else:
            parser.line(raw, i)
    if parser.open is not None:
        raise RegionError(
            path, parser.open.begin + 1, f"task {parser.open.task} is never closed (END TASK)"
        )
    return parser.regions


def instructor_blocks(lines: Sequence[str], path: str | Path, markdown: bool) -> list[range]:
    """Line ranges (markers included) of the instructor-only blocks of a file."""
    marker = MD_INSTRUCTOR_RE if markdown else HASH_INSTRUCTOR_RE
    blocks: list[range] = []
    start: int | None = None
    for i, raw in enumerate(lines):
        m = marker.match(raw)
        if m is None:
            lead = "<!--" if markdown else "#"
            if raw.lstrip().startswith(lead) and _LOOSE_INSTRUCTOR.search(raw):
                raise RegionError(path, i + 1, f"malformed instructor marker: {raw.strip()!r}")
            continue
        if m[1].upper() == "BEGIN":
            if start is not None:
                raise RegionError(path, i + 1, "instructor blocks do not nest")
            start = i
        else:
            if start is None:
                raise RegionError(path, i + 1, "END INSTRUCTOR without a BEGIN")
            blocks.append(range(start, i + 1))
            start = None
    if start is not None:
        raise RegionError(path, start + 1, "instructor block is never closed (END INSTRUCTOR)")
    return blocks


@dataclass
class Stripped:
    """A file's student version, with what was taken out (for the leak check)."""

    lines: list[str]
    regions: list[Region]
    secret: list[str]  # solution lines and instructor-block lines that must not ship
    public: list[str]  # lines released on purpose: text outside regions, and the stubs


def student_version(lines: Sequence[str], path: str | Path) -> Stripped:
    """Instructor blocks dropped, then (outside Markdown) every region replaced by its stub."""
    markdown = str(path).lower().endswith(MARKDOWN_SUFFIXES)
    drop: set[int] = set()
    secret: list[str] = []
    for block in instructor_blocks(lines, path, markdown):
        drop.update(block)
        secret.extend(lines[i] for i in block)
    kept = [line for i, line in enumerate(lines) if i not in drop]
    if markdown:
        return Stripped(kept, [], secret, kept)
    regions = parse_regions(kept, path)
    out: list[str] = []
    cursor = 0
    for region in regions:
        out.extend(kept[cursor : region.begin])
        out.extend([kept[region.begin], *region.stub, kept[region.end]])
        secret.extend(region.solution)
        cursor = region.end + 1
    out.extend(kept[cursor:])
    return Stripped(out, regions, secret, out)


@dataclass(frozen=True)
class Marked:
    """A ``BEGIN TASK`` … ``END TASK`` span as found in any tree (a stub, a solution, or both)."""

    task: str
    begin: int  # 0-based index of the BEGIN line
    end: int  # 0-based index of the END line


def marked_regions(lines: Sequence[str], path: str | Path = "<text>") -> list[Marked]:
    """The marker pairs of a file, in order; ``STUB`` lines inside are content, not structure."""
    found: list[Marked] = []
    open_: tuple[str, int] | None = None
    for i, raw in enumerate(lines):
        if m := BEGIN_RE.match(raw):
            if open_ is not None:
                raise RegionError(
                    path, i + 1, f"regions do not nest: task {open_[0]} is still open"
                )
            open_ = (m["task"], i)
        elif m := END_RE.match(raw):
            if open_ is None or open_[0] != m["task"]:
                raise RegionError(path, i + 1, f"END TASK {m['task']} without its BEGIN")
            found.append(Marked(open_[0], open_[1], i))
            open_ = None
    if open_ is not None:
        raise RegionError(path, open_[1] + 1, f"task {open_[0]} is never closed (END TASK)")
    return found


def restore_lines(
    student: Sequence[str],
    instructor: Sequence[str],
    path: str | Path,
    tasks: Iterable[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Put the instructor's regions (markers included) back between the student file's markers.

    The result is the instructor's file (instructor blocks dropped) with each region taken from
    the instructor for the wanted tasks and from the student file for the others, so lines the
    release reformatted or whose imports it pruned come back as the solution needs them. Returns
    the new lines and the tasks restored; a student file whose markers do not match the
    instructor's regions (a marker edited away) is an error naming the file and task: restoring
    is for fixtures and checks, not for merging work.
    """
    wanted = set(tasks) if tasks is not None else None
    if str(path).lower().endswith(MARKDOWN_SUFFIXES):
        return list(student), []
    drop = {i for b in instructor_blocks(instructor, path, False) for i in b}
    kept = [line for i, line in enumerate(instructor) if i not in drop]
    regions = parse_regions(kept, path)
    marks = marked_regions(student, path)
    for k, region in enumerate(regions):
        if k >= len(marks) or marks[k].task != region.task:
            found = f"task {marks[k].task}" if k < len(marks) else "nothing"
            raise RegionError(
                path,
                region.begin + 1,
                f"markers of task {region.task} not found in the student file "
                f"(region {k + 1} of {len(regions)}; found {found})",
            )
    if len(marks) > len(regions):
        extra = marks[len(regions)]
        raise RegionError(path, extra.begin + 1, f"task {extra.task}: no such region upstream")
    out: list[str] = []
    restored: list[str] = []
    cursor = 0
    for region, mark in zip(regions, marks, strict=True):
        out.extend(kept[cursor : region.begin])
        if wanted is None or region.task in wanted:
            out.extend(region.original(kept))
            restored.append(region.task)
        else:
            out.extend(student[mark.begin : mark.end + 1])
        cursor = region.end + 1
    out.extend(kept[cursor:])
    return out, restored


def read_lines(path: Path) -> list[str] | None:
    """The file's lines (newlines kept), or None when it is not UTF-8 text."""
    try:
        return path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (UnicodeDecodeError, ValueError):
        return None


def is_trivial(line: str) -> bool:
    """Lines too common to mean a leak: blank, ``pass``, brackets, very short ones."""
    text = line.strip()
    if len(text) < 12 or text in {"pass", "...", "else:", "try:", "finally:", "return"}:
        return True
    return not re.search(r"[A-Za-z0-9]{3}", text)
