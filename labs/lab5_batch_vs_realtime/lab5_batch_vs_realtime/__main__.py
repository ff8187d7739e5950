"""Lab 5 command line: ``python -m lab5_batch_vs_realtime <command>``.

serve     the real-time FastAPI service (uvicorn)
land      write one day's input Parquet
batch     score a Parquet input into a date partition (the batch step, no Airflow)
validate  check a committed partition against its input
day       land + batch + validate one date (what the DAG does, without Airflow)
tenants   publish churn models as tenant versions (demo registry for the tenant routes)
up        the service and `airflow standalone` together (`make lab-5`)
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from course_models.tasks import CLI_EXIT_CODE, TaskNotImplemented
from lab5_batch_vs_realtime.settings import get_settings


def _print_summary(title: str, data: dict) -> None:
    print(f"{title}: " + json.dumps(data, indent=2, default=str), flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from lab5_batch_vs_realtime.service import create_app

    s = get_settings()
    uvicorn.run(
        create_app(s), host=args.host or s.host, port=args.port or s.port, log_level=s.log_level
    )
    return 0


def cmd_land(args: argparse.Namespace) -> int:
    from lab5_batch_vs_realtime.batch import land_day

    overrides = {"input_uri": args.input} if args.input else {}
    _print_summary("landed", land_day(args.date, get_settings(**overrides), rows=args.rows))
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from lab5_batch_vs_realtime.batch import partition_name, run_batch
    from lab5_batch_vs_realtime.storage import join

    overrides = {"chunk_rows": args.chunk_rows} if args.chunk_rows else {}
    if args.sink:
        overrides["sink"] = args.sink
    s = get_settings(**overrides)
    source = args.input or join(s.input_uri, partition_name(args.date))
    summary = run_batch(
        source,
        args.output or s.output_uri,
        args.date,
        version=args.version or s.model_version,
        settings=s,
        progress=not args.no_progress,
        fail_after_chunks=args.fail_after_chunks,
        drill=args.drill,
    )
    print(
        f"rows in {summary['rows_in']:,}  rows out {summary['rows_out']:,}  "
        f"{summary['seconds']:.2f} s  {summary['rows_per_s']:,.0f} rows/s  "
        f"model v{summary['model_version']}  peak RSS {summary['peak_rss_mb']:.0f} MB  "
        f"-> {summary['output']}",
        flush=True,
    )
    if s.sink == "bigquery":
        from lab5_batch_vs_realtime.bigquery_sink import publish_partition

        _print_summary("bigquery", publish_partition(args.output or s.output_uri, args.date, s))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from lab5_batch_vs_realtime.batch import partition_name, validate_partition
    from lab5_batch_vs_realtime.storage import join

    s = get_settings()
    source = args.input or join(s.input_uri, partition_name(args.date))
    _print_summary("valid", validate_partition(source, args.output or s.output_uri, args.date, s))
    return 0


def cmd_day(args: argparse.Namespace) -> int:
    from lab5_batch_vs_realtime.batch import land_day, run_batch, validate_partition

    s = get_settings()
    landed = land_day(args.date, s, rows=args.rows)
    print(f"landed {landed['rows']:,} rows -> {landed['input']}", flush=True)
    summary = run_batch(landed["input"], s.output_uri, args.date, s.model_version, s, progress=True)
    print(
        f"scored: rows in {summary['rows_in']:,}  rows out {summary['rows_out']:,}  "
        f"{summary['rows_per_s']:,.0f} rows/s -> {summary['output']}",
        flush=True,
    )
    _print_summary("valid", validate_partition(landed["input"], s.output_uri, args.date, s))
    return 0


def cmd_tenants(args: argparse.Namespace) -> int:
    from lab5_batch_vs_realtime.tenants import publish_demo_tenants

    publish_demo_tenants(get_settings(), args.publish or None)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from lab5_batch_vs_realtime.stack import run_stack

    return run_stack(with_airflow=not args.no_airflow)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab5_batch_vs_realtime", description=__doc__, allow_abbrev=False
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", allow_abbrev=False, help="run the real-time service")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("land", allow_abbrev=False, help="write one day's input")
    p.add_argument("--date", required=True, type=date.fromisoformat)
    p.add_argument("--rows", type=int)
    p.add_argument("--input", help="input root (default LAB5_INPUT_URI)")
    p.set_defaults(func=cmd_land)

    for name, func, help_ in (
        ("batch", cmd_batch, "score one date's input into its partition"),
        ("validate", cmd_validate, "validate one date's partition"),
    ):
        p = sub.add_parser(name, allow_abbrev=False, help=help_)
        p.add_argument("--date", required=True, type=date.fromisoformat)
        p.add_argument("--input", help="Parquet file/folder (default LAB5_INPUT_URI/date=DATE)")
        p.add_argument("--output", help="output root (default LAB5_OUTPUT_URI)")
        if name == "batch":
            p.add_argument("--version", type=int, help="model version (default: latest)")
            p.add_argument("--chunk-rows", type=int)
            p.add_argument("--no-progress", action="store_true")
            p.add_argument(
                "--sink",
                choices=["none", "bigquery"],
                help="also publish the partition to BigQuery (default LAB5_SINK, none)",
            )
            p.add_argument("--fail-after-chunks", type=int, help=argparse.SUPPRESS)
            p.add_argument(
                "--drill", choices=["before-commit", "in-commit"], help=argparse.SUPPRESS
            )
        p.set_defaults(func=func)

    p = sub.add_parser("day", allow_abbrev=False, help="land + batch + validate one date")
    p.add_argument("--date", required=True, type=date.fromisoformat)
    p.add_argument("--rows", type=int)
    p.set_defaults(func=cmd_day)

    p = sub.add_parser("tenants", allow_abbrev=False, help="publish tenant model versions")
    p.add_argument("publish", nargs="*", help="tenant=churn_version, e.g. acme=1 (default demo)")
    p.set_defaults(func=cmd_tenants)

    p = sub.add_parser("up", allow_abbrev=False, help="service + airflow standalone (make lab-5)")
    p.add_argument("--no-airflow", action="store_true")
    p.set_defaults(func=cmd_up)

    args = parser.parse_args(argv)  # unknown flags are an error (exit 2), never dropped
    from pydantic import ValidationError

    from lab5_batch_vs_realtime.bigquery_sink import SinkError

    try:
        return args.func(args)
    except TaskNotImplemented as exc:
        print(str(exc), file=sys.stderr)
        return CLI_EXIT_CODE
    except (ValidationError, SinkError) as exc:  # bad LAB5_* settings or a refused publish
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
