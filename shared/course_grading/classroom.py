"""GitHub Classroom autograding for the student edition, and the per-task check it runs.

The workflow follows the shape GitHub Classroom itself writes (``on: push`` and
``repository_dispatch``, one job that skips the classroom bot), with least privilege (the job
reads the repository and nothing else, the checkout keeps no credentials, every action is pinned
to the commit of its release tag; ``make lint`` runs zizmor on it): each lab is
graded once by ``make grade-N`` (the lab's public checks, ≤ 5 min), then one
``classroom-resources/autograding-command-grader`` (v1) step per README task passes when that
task's checks all passed in the lab's JSON report (``python -m course_grading check``), worth the
README's points; ``classroom-resources/autograding-grading-reporter`` (v1) adds them up. A command
grader scores all or nothing, so Classroom counts a task only when it is complete, while
``make grade-N`` and the gradebook keep per-check partial points. Written tasks are graded by hand
and carry no Classroom step.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from course_grading.readme import TaskInfo, read_tasks

# Every action pinned to the commit of its release tag (the tag stays as a comment, as zizmor
# and Dependabot read it): a moved tag cannot change what runs in the students' repositories.
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"  # v4.2.2
SETUP_PYTHON = "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065"  # v5.6.0
COMMAND_GRADER = (
    "classroom-resources/autograding-command-grader@d5b3fa6f50f7f629b7bfae0cc3e4c58852b412d5"
)
REPORTER = (
    "classroom-resources/autograding-grading-reporter@d13b5912daf5042ac1b71bc38bdb4a6bcd61d8ca"
)
TAGS = {CHECKOUT: "v4.2.2", SETUP_PYTHON: "v5.6.0", COMMAND_GRADER: "v1", REPORTER: "v1"}
# Minutes. Setup installs the pinned ~4 GB venv (CPU torch) and trains the models.
SETUP_MINUTES = 25
LAB_MINUTES = 5  # the course's budget for grading one lab
CHECK_MINUTES = 1
LABS = (1, 2, 3, 4, 5)


def runner_id(task: str) -> str:
    """Step id for a task: letters and digits only, as the reporter's ``runners`` input wants."""
    lab, number = task.split(".")
    return f"lab{lab}task{number}"


def report_path(lab: int) -> str:
    return f"artifacts/grades/lab{lab}.json"


def _uses(action: str) -> str:
    return f"{action}  # {TAGS[action]}"


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def lab_tasks(root: Path) -> dict[int, dict[str, TaskInfo]]:
    """Each lab folder's README tasks, by lab number (``labs/labN_<topic>/README.md``)."""
    found: dict[int, dict[str, TaskInfo]] = {}
    for folder in (root / "labs").glob("lab*_*"):
        m = re.match(r"lab(\d+)_", folder.name)
        if m and (folder / "README.md").is_file():
            found[int(m[1])] = read_tasks(folder / "README.md")
    return dict(sorted(found.items()))


HEADER = """\
# GitHub Classroom autograding, written by `python -m course_grading student` (do not edit by
# hand: regenerate the student edition). Each lab is graded once (`make grade-N`, public checks,
# {lab} min each); each README task is then one command-grader test worth the task's points,
# passed when all of that task's checks passed. `make grade-N` locally shows the same checks.
#
# Least privilege: the job only reads the repository. The v1 grader and reporter write their
# results as step outputs and annotations, which need no token scope; the checkout keeps no
# credentials, and every action is pinned to a commit.
name: Autograding Tests
"on":
  - push
  - repository_dispatch
  - workflow_dispatch
permissions: {{}}
jobs:
  run-autograding-tests:
    runs-on: ubuntu-24.04
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: {job}
    permissions:
      contents: read
    steps:
      - name: Checkout code
        uses: {checkout}
        with:
          persist-credentials: false
      - uses: {setup_python}
        with:
          python-version: "3.11"
      - name: System packages (redis-server for lab 2, Java 17 for TorchServe in lab 3)
        run: |
          sudo apt-get update -qq
          sudo apt-get install -y -qq --no-install-recommends redis-server openjdk-17-jre-headless
          sudo systemctl disable --now redis-server || true
      - name: Set up the course (pinned venv, CPU torch) and train the models
        timeout-minutes: {setup}
        run: make setup train TORCH_INDEX=https://download.pytorch.org/whl/cpu
"""


def _lab_steps(lab: int, tasks: dict[str, TaskInfo]) -> tuple[list[str], list[str]]:
    lines = [
        f"      - name: Grade lab {lab} (public checks; report in {report_path(lab)})",
        "        continue-on-error: true",
        f"        timeout-minutes: {LAB_MINUTES}",
        f"        run: make grade-{lab}",
    ]
    runners: list[str] = []
    for task, info in tasks.items():
        if info.written:
            continue
        rid = runner_id(task)
        runners.append(rid)
        title = f"Task {task} — {info.title}"
        command = f".venv/bin/python -m course_grading check {report_path(lab)} {task}"
        lines += [
            f"      - name: {_q(title)}",
            f"        id: {rid}",
            f"        uses: {_uses(COMMAND_GRADER)}",
            "        with:",
            f"          test-name: {_q(title)}",
            f"          command: {_q(command)}",
            f"          timeout: {CHECK_MINUTES}",
            f"          max-score: {info.points}",
        ]
    return lines, runners


def workflow(root: Path) -> str:
    """The classroom.yml text for the labs (and their README tasks) found under root."""
    found = lab_tasks(root)
    job = SETUP_MINUTES + LAB_MINUTES * len(found) + 10
    header = HEADER.format(
        lab=LAB_MINUTES,
        job=job,
        setup=SETUP_MINUTES,
        checkout=_uses(CHECKOUT),
        setup_python=_uses(SETUP_PYTHON),
    )
    lines = [header.rstrip("\n")]
    runners: list[str] = []
    for lab, tasks in found.items():
        steps, ids = _lab_steps(lab, tasks)
        lines += steps
        runners += ids
    if runners:
        lines += [
            "      - name: Autograding Reporter",
            f"        uses: {_uses(REPORTER)}",
            "        env:",
            *[
                f'          {r.upper()}_RESULTS: "${{{{steps.{r}.outputs.result}}}}"'
                for r in runners
            ],
            "        with:",
            f"          runners: {','.join(runners)}",
        ]
    return "\n".join(lines) + "\n"


def task_result(report: dict[str, Any], task: str) -> tuple[bool, list[str]]:
    """Whether every check of the task passed (and it has some), with lines to show the student."""
    entry = report.get("tasks", {}).get(task)
    if entry is None:
        return False, [f"task {task}: no such task in the {report.get('lab')} report"]
    lines = [f"task {task} — {entry['title']}: {entry['points']}/{entry['max']} points"]
    for check in entry["checks"]:
        mark = "PASS" if check["passed"] else "FAIL"
        lines.append(f"  {mark} {check['name']} ({check['points']} points)")
    messages = {c["name"]: c["message"] for c in report.get("checks", [])}
    for check in entry["checks"]:
        if not check["passed"] and messages.get(check["name"]):
            lines.append(f"    {check['name'].split('::')[-1]}: {messages[check['name']]}")
    if not entry["checks"]:
        lines.append("  (no checks were collected for this task)")
    ok = bool(entry["checks"]) and all(c["passed"] for c in entry["checks"])
    return ok, lines


def check_command(report_file: Path, task: str) -> int:
    if not report_file.is_file():
        print(
            f"{report_file} is missing: the lab's grading step did not finish (see its log)",
            file=sys.stderr,
        )
        return 1
    ok, lines = task_result(json.loads(report_file.read_text()), task)
    print("\n".join(lines))
    return 0 if ok else 1
