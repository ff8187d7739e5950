"""``python -m course_models train|list|generate|report|advise`` — the shared package's CLI."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def _train(args: argparse.Namespace, console: Console) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from course_models.artifacts import artifacts_root
    from course_models.train import select, train_one

    specs = select(args.only)
    root = artifacts_root(args.artifacts)
    results = []
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("training", total=len(specs))
        for spec in specs:
            progress.update(task, description=f"training {spec.key}")
            t0 = time.perf_counter()
            meta = train_one(spec, root, args.seed)
            results.append((meta, time.perf_counter() - t0))
            progress.advance(task)
    table = Table(title=f"Trained into {root} in {time.perf_counter() - started:.1f}s")
    for col in ("model", "version", "framework", "metrics", "seconds"):
        table.add_column(col)
    for meta, seconds in results:
        metrics = " ".join(f"{k}={v}" for k, v in meta["metrics"].items() if k != "positive_rate")
        table.add_row(
            meta["name"], str(meta["version"]), meta["framework"], metrics, f"{seconds:.1f}"
        )
    console.print(table)
    return 0


def _list(args: argparse.Namespace, console: Console) -> int:
    from course_models.artifacts import (
        ArtifactError,
        artifacts_root,
        list_artifacts,
        verify_artifact,
    )

    table = Table(title=f"Artifacts in {artifacts_root(args.artifacts)}")
    for col in ("model", "version", "framework", "created", "status"):
        table.add_column(col)
    for meta in list_artifacts(args.artifacts):
        try:
            verify_artifact(meta["name"], meta["version"], args.artifacts)
            status = "ok"
        except ArtifactError as exc:
            status = f"[red]{exc.reason}[/red]: {exc}"
        table.add_row(
            meta["name"], str(meta["version"]), meta["framework"], meta["created_at"], status
        )
    console.print(table)
    return 0


def _generate(args: argparse.Namespace, console: Console) -> int:
    from course_models.datasets import write_churn_parquet

    t0 = time.perf_counter()
    files = write_churn_parquet(
        Path(args.out), args.rows, args.seed, args.start, args.rows_per_file, args.with_label
    )
    console.print(
        f"wrote {args.rows:,} rows to {len(files)} file(s) in {args.out} "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    return 0


def _report(args: argparse.Namespace, console: Console) -> int:
    from course_models import cost, report

    prices = cost.load_prices(args.prices)
    page = report.build(
        Path(args.out) if args.out else None,
        Path(args.bench_dir) if args.bench_dir else None,
        prices,
        args.daily_rows,
    )
    size = page.stat().st_size
    console.print(f"wrote {page} ({size / 1024:,.0f} KiB); open it in a browser (works offline)")
    return 0


def _advise(args: argparse.Namespace, console: Console) -> int:
    import json

    from course_models import cost, report
    from course_models.bench import machine_caption

    online = args.p95_ms is not None or args.rps is not None
    batch = args.daily_rows is not None or args.deadline_h is not None
    if not (online or batch):
        console.print("give --p95-ms and --rps (an API), or --daily-rows and --deadline-h (batch)")
        return 2
    if online and (args.p95_ms is None or args.rps is None):
        console.print("an API constraint needs both --p95-ms and --rps")
        return 2
    if batch and (args.daily_rows is None or args.deadline_h is None):
        console.print("a batch constraint needs both --daily-rows and --deadline-h")
        return 2
    prices = cost.load_prices(args.prices)
    labs, modes = report.load_modes(Path(args.bench_dir) if args.bench_dir else None)
    if not modes:
        missing = ", ".join(lab.command for lab in labs) or "make bench-N"
        console.print(f"no benchmark results with per-mode figures yet: run {missing}")
        return 1
    answers = []
    if online:
        peak = f", peaks of {args.peak_rps:g}/s" if args.peak_rps else ""
        question = f"API: p95 <= {args.p95_ms:g} ms at {args.rps:g} predictions/s{peak}"
        verdicts = cost.advise_online(
            modes, args.p95_ms, args.rps, prices, args.peak_rps or 0, args.client_batches
        )
        answers.append((question, "per day always on", verdicts))
    if batch:
        question = (
            f"batch: {cost.human_rows(args.daily_rows)} rows a day, "
            f"done within {args.deadline_h:g} h"
        )
        verdicts = cost.advise_batch(modes, args.daily_rows, args.deadline_h, prices)
        answers.append((question, "per daily run", verdicts))
    if args.json:
        doc = [{"question": q, "verdicts": [v.as_dict() for v in vs]} for q, _, vs in answers]
        print(json.dumps(doc, indent=2))
    else:
        texts = [
            cost.format_verdicts(vs, prices, q, what, machine_caption()) for q, what, vs in answers
        ]
        print("\n\n".join(texts))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_models", description=__doc__)
    parser.add_argument(
        "--artifacts", help="artifacts folder (default: $COURSE_ARTIFACTS_DIR or ./artifacts)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train models into the artifacts folder")
    p.add_argument("--only", action="append", help="model name or name/version; repeatable")
    p.add_argument("--seed", type=int, default=42)
    sub.add_parser("list", help="list artifacts and verify each")
    g = sub.add_parser("generate", help="write churn rows as Parquet files")
    g.add_argument("--rows", type=int, required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--start", type=int, default=0, help="first customer id")
    g.add_argument("--rows-per-file", type=int, default=1_000_000)
    g.add_argument("--with-label", action="store_true")
    r = sub.add_parser("report", help="every lab's latest benchmark on one HTML page")
    r.add_argument("--out", help="folder for index.html (default: artifacts/report)")
    a = sub.add_parser(
        "advise", help="which measured serving modes meet a constraint, at what cost"
    )
    a.add_argument("--p95-ms", type=float, help="API: p95 latency target, ms")
    a.add_argument("--rps", type=float, help="API: predictions per second to carry")
    a.add_argument("--peak-rps", type=float, help="API: the spikes' rate, if above --rps")
    a.add_argument(
        "--client-batches",
        action="store_true",
        help="API: count modes measured with several rows per request (clients that batch)",
    )
    a.add_argument("--deadline-h", type=float, help="batch: hours the daily job may take")
    a.add_argument("--json", action="store_true", help="machine-readable answer")
    for sp in (r, a):
        sp.add_argument("--bench-dir", help="benchmark JSON folder (default: artifacts/bench)")
        sp.add_argument("--prices", help=f"price file (default: $COURSE_PRICES or {_PRICES})")
    a.add_argument("--daily-rows", type=float, help="batch: rows to score a day, e.g. 5e6")
    r.add_argument("--daily-rows", type=float, default=5e6, help="rows of the batch window priced")
    args = parser.parse_args(argv)
    console = Console(width=max(100, Console().width))
    commands = {"train": _train, "list": _list, "generate": _generate}
    commands |= {"report": _report, "advise": _advise}
    return commands[args.command](args, console)


_PRICES = "shared/course_models/prices.toml"


if __name__ == "__main__":
    sys.exit(main())
