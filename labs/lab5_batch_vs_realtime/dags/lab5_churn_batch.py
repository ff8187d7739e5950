"""Lab 5 — daily churn batch scoring.

`land_input` writes the day's customers as Parquet, `score` runs the lab's batch step (the same
`run_batch` the CLI uses) into a date partition, `validate` checks rows in == rows out and no
duplicate ids. Storage and sizes come from `LAB5_*` variables (see the lab README).

Trigger a manual run with config, e.g. `{"date": "2026-11-24", "rows": 50000}`;
`{"fail_first_attempts": 1}` makes the first `score` attempt crash half-way, to watch a retry
replace the staged output without anything partial becoming visible.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

# Only the standard library and the Task SDK at import time: the DAG processor parses this file
# every few seconds, so pandas, sklearn and the model are imported inside the tasks.
RETRY_DELAY = timedelta(seconds=float(os.environ.get("LAB5_RETRY_DELAY_SECONDS", "20")))


@dag(
    dag_id="lab5_churn_batch",
    description="Land a day's customers, score them with the churn model, validate the output",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "lab5", "retries": 2, "retry_delay": RETRY_DELAY},
    params={
        "date": Param(
            None,
            type=["null", "string"],
            description="partition date YYYY-MM-DD (default: the run's logical date or today)",
        ),
        "rows": Param(None, type=["null", "integer"], minimum=1, description="rows to land"),
        "fail_first_attempts": Param(
            0, type="integer", minimum=0, description="crash this many `score` attempts (drill)"
        ),
    },
    tags=["lab5", "batch"],
    doc_md=__doc__,
)
def lab5_churn_batch():
    @task(retries=3)
    def land_input(params=None, logical_date=None, dag_run=None) -> dict:
        from lab5_batch_vs_realtime.batch import land_day, parse_date
        from lab5_batch_vs_realtime.settings import get_settings

        # Manual runs in Airflow 3 have no logical date: fall back to the param, then run_after.
        when = params.get("date") or logical_date or dag_run.run_after
        day = parse_date(when).isoformat()
        landed = land_day(day, get_settings(), rows=params.get("rows"))
        return {**landed, "date": day}

    @task
    def score(landed: dict, params=None, ti=None) -> dict:
        from lab5_batch_vs_realtime.batch import run_batch
        from lab5_batch_vs_realtime.settings import get_settings

        s = get_settings()
        crash = ti.try_number <= int(params.get("fail_first_attempts") or 0)
        return run_batch(
            landed["input"],
            s.output_uri,
            landed["date"],
            version=s.model_version,
            settings=s,
            fail_after_chunks=1 if crash else None,
        )

    @task(retries=0)
    def validate(landed: dict, summary: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from lab5_batch_vs_realtime.batch import ValidationFailed, validate_partition
        from lab5_batch_vs_realtime.settings import get_settings

        s = get_settings()
        try:
            report = validate_partition(landed["input"], s.output_uri, landed["date"], s)
        except ValidationFailed as exc:  # bad data will not fix itself: fail without retrying
            raise AirflowFailException(str(exc)) from exc
        if report["rows_out"] != landed["rows"]:
            raise AirflowFailException(f"landed {landed['rows']} rows, scored {report['rows_out']}")
        return {**report, "rows_per_s": summary["rows_per_s"]}

    landed = land_input()
    validate(landed, score(landed))


lab5_churn_batch()
