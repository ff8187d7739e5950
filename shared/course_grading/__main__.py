"""``python -m course_grading``: release the student edition, grade labs, build the gradebook.

student OUT [--force]              write the student edition (stubs, no instructor material)
restore STUDENT --from INSTRUCTOR  put the solution regions back (by task number)
grade N [--submission DIR]         grade lab N (public + hidden checks) into a per-task report
grade-class N DIR [--jobs K]       grade every checkout under DIR, each in its own sandbox; roster
gradescope N [--out DIR]           write lab N's Gradescope autograder bundle (folder + zip)
gradescope-run N SUB RESULTS       (inside the bundle) grade SUB into Gradescope's results.json
check REPORT TASK                  exit 0 when every check of TASK passed (GitHub Classroom)
workflow [--out FILE]              print (or write) the edition's classroom.yml for this tree
roster REPORTS... [--out CSV]      merge reports into a CSV gradebook and a Markdown summary
acceptance [--labs 1 2 ...]        student edition: fresh <= 15 %; with --restored, restored = max
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from course_grading import classroom, cohort, grade, gradescope, release, roster
from course_grading.readme import ReadmeError
from course_grading.regions import RegionError


def _student(args: argparse.Namespace) -> int:
    edition = release.build(Path(args.root), Path(args.out), force=args.force, git=not args.no_git)
    tasks = ", ".join(sorted(edition.regions, key=roster._task_key)) or "none"
    print(f"student edition: {edition.files} files in {edition.out}")
    print(f"  task regions replaced by stubs: {sum(edition.regions.values())} (tasks {tasks})")
    print(f"  left out (instructor-only): {len(edition.left_out)} files")
    print(f"  leak check: {len(edition.secrets)} solution lines searched, none found")
    return 0


def _restore(args: argparse.Namespace) -> int:
    done = release.restore(Path(args.student), Path(args.source), args.task)
    print(f"restored {sum(done.values())} regions in {args.student}: {', '.join(sorted(done))}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    data = grade.grade(
        args.lab,
        Path(args.root),
        Path(args.submission) if args.submission else None,
        args.student,
        Path(args.report) if args.report else None,
        args.pytest_args,
        timeout=args.timeout,
        keep=args.keep,
        backend=args.sandbox,
    )
    print(grade.summary(data))
    return 0 if data["max"] else 1


def _workflow(args: argparse.Namespace) -> int:
    text = classroom.workflow(Path(args.root))
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _grade_class(args: argparse.Namespace) -> int:
    root = Path(args.root)
    results, wall = cohort.grade_class(
        args.lab, root, Path(args.submissions), args.jobs, timeout=args.timeout
    )
    out = root.resolve() / "artifacts" / "grades" / f"lab{args.lab}-roster.csv"
    rows = cohort.write_roster(results, out)
    print(roster.summary(rows))
    print(cohort.report_text(results, wall, args.jobs))
    print(f"gradebook: {out} and {out.with_suffix('.md')}")
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    out = Path(args.out) if args.out else root / "artifacts" / "gradescope" / f"lab{args.lab}"
    archive = gradescope.bundle(root, args.lab, out)
    print(f"Gradescope autograder for lab {args.lab}: {out} (upload {archive})")
    return 0


def _gradescope_run(args: argparse.Namespace) -> int:
    doc = gradescope.run(Path(args.root), args.lab, Path(args.submission), Path(args.results))
    print(doc["output"])
    return 0


def _roster(args: argparse.Namespace) -> int:
    rows = roster.collect([Path(p) for p in args.reports])
    roster.write_csv(rows, Path(args.out))
    text = roster.summary(rows)
    if args.summary:
        Path(args.summary).write_text(text)
    print(text)
    print(f"gradebook: {args.out} ({len(rows)} rows)")
    return 0


def _acceptance(args: argparse.Namespace) -> int:
    """Grade the fresh edition (at most ``--max-share``); with ``--restored`` put every solution
    region back into the same edition and require the maximum: the checks grade what the
    regions contain, nothing else."""
    root = Path(args.root).resolve()
    failed: list[str] = []
    rows = ["| lab | edition | points | share | seconds |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="student-edition-") as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "student"
        release.build(root, out, force=True, git=False)
        _grade_edition(args, root, out, "fresh", rows, failed)
        if args.restored:
            release.restore(out, root)
            _grade_edition(args, root, out, "restored", rows, failed)
        print("\n".join(rows))
    for line in failed:
        print(line, file=sys.stderr)
    return 1 if failed else 0


def _grade_edition(
    args: argparse.Namespace, root: Path, out: Path, state: str, rows: list[str], failed: list[str]
) -> None:
    for lab in args.labs:
        try:
            data = grade.grade(lab, root, out, state, timeout=args.timeout)
        except grade.GradeError as exc:
            failed.append(f"lab {lab} ({state}): {exc}")
            continue
        share = data["total"] / data["max"] if data["max"] else 1.0
        rows.append(
            f"| {lab} | {state} | {data['total']} / {data['max']} | {share:.0%} | "
            f"{data['seconds']} |"
        )
        print(grade.summary(data), flush=True)
        if state == "fresh" and share > args.max_share:
            failed.append(f"lab {lab}: fresh edition scores {share:.0%} > {args.max_share:.0%}")
        if state == "restored" and data["total"] != data["max"]:
            failed.append(f"lab {lab}: restored edition scores {data['total']} / {data['max']}")


def _class_parsers(sub) -> None:
    """A whole class (grade-class) and Gradescope's bundle."""
    k = sub.add_parser("grade-class", help="grade every checkout of a folder, k at a time")
    k.add_argument("lab", type=int)
    k.add_argument("submissions", help="a folder of checkouts, one per student")
    k.add_argument("--jobs", type=int, default=2)
    k.add_argument("--timeout", type=float, default=grade.DEFAULT_TIMEOUT_S, help="seconds each")
    k.set_defaults(run=_grade_class)
    s = sub.add_parser("gradescope", help="write lab N's Gradescope autograder bundle")
    s.add_argument("lab", type=int)
    s.add_argument("--out", help="folder (default: artifacts/gradescope/labN)")
    s.set_defaults(run=_gradescope)
    s = sub.add_parser("gradescope-run", help="grade a submission into results.json")
    s.add_argument("lab", type=int)
    s.add_argument("submission")
    s.add_argument("results")
    s.set_defaults(run=_gradescope_run)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_grading",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--root", default=".", help="the instructor repository (default: .)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("student", help="write the student edition")
    s.add_argument("out")
    s.add_argument("--force", action="store_true", help="replace OUT if it exists")
    s.add_argument("--no-git", action="store_true", help="do not git init + commit OUT")
    s.set_defaults(run=_student)
    r = sub.add_parser("restore", help="put the solution regions back into a student checkout")
    r.add_argument("student")
    r.add_argument("--from", dest="source", required=True, help="the instructor repository")
    r.add_argument("--task", action="append", help="only this task (repeatable)")
    r.set_defaults(run=_restore)
    g = sub.add_parser("grade", help="grade lab N")
    g.add_argument("lab", type=int)
    g.add_argument("--submission", help="a student's checkout (default: grade this repository)")
    g.add_argument("--student", help="name stored in the report (default: the folder's name)")
    g.add_argument("--report", help="report path (default: artifacts/grades[/<student>]/labN.json)")
    g.add_argument("--timeout", type=float, default=grade.DEFAULT_TIMEOUT_S, help="seconds")
    g.add_argument("--keep", action="store_true", help="keep the temporary grading tree")
    g.add_argument(
        "--sandbox", choices=("bwrap", "podman", "docker"), help="backend (default: bwrap)"
    )
    g.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    g.set_defaults(run=_grade)
    _class_parsers(sub)
    c = sub.add_parser("check", help="exit 0 when every check of a task passed")
    c.add_argument("report")
    c.add_argument("task")
    c.set_defaults(run=lambda a: classroom.check_command(Path(a.report), a.task))
    w = sub.add_parser("workflow", help="the student edition's classroom.yml for this tree")
    w.add_argument("--out", help="write it here instead of printing it")
    w.set_defaults(run=_workflow)
    o = sub.add_parser("roster", help="merge reports into a gradebook")
    o.add_argument("reports", nargs="+")
    o.add_argument("--out", default="gradebook.csv")
    o.add_argument("--summary", help="also write the Markdown summary here")
    o.set_defaults(run=_roster)
    a = sub.add_parser("acceptance", help="grade the fresh student edition of every lab")
    a.add_argument("--labs", type=int, nargs="+", default=list(classroom.LABS))
    a.add_argument("--out", help="where to write the edition (default: a temporary folder)")
    a.add_argument("--max-share", type=float, default=0.15)
    a.add_argument("--timeout", type=float, default=300, help="seconds per lab (budget: 5 min)")
    a.add_argument(
        "--restored", action="store_true", help="then restore every region: must score the maximum"
    )
    a.set_defaults(run=_acceptance)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" goes to pytest as it is (argparse would read "-k" as its own).
    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if rest:
        args.pytest_args = [*getattr(args, "pytest_args", []), *rest]
    try:
        return args.run(args)
    except (
        release.ReleaseError,
        RegionError,
        ReadmeError,
        grade.GradeError,
        roster.RosterError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
