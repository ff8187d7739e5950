"""``python -m course_models train|list|generate`` — the training package's command line."""

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
    args = parser.parse_args(argv)
    console = Console(width=max(100, Console().width))
    return {"train": _train, "list": _list, "generate": _generate}[args.command](args, console)


if __name__ == "__main__":
    sys.exit(main())
