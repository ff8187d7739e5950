"""Lab 5 — daily churn batch scoring.

`land_input` writes the day's customers as Parquet, `score` runs the lab's batch step (the same
`run_batch` the CLI uses) into a date partition, `validate` checks rows in == rows out and no
duplicate ids. Storage and sizes come from `LAB5_*` variables (see the lab README).

The DAG arrives **paused** (`is_paused_upon_creation=True`) with a daily, catchup-free schedule:
nothing runs until you ask. `airflow dags test lab5_churn_batch 2026-11-24` runs one day in-process
(no scheduler involved); `airflow dags unpause` lets the scheduler run it daily, and a trigger
with its own run id (`airflow dags trigger --run-id day-2026-11-24 --conf ...`) queues behind a
scheduled run instead of racing it (`max_active_runs=1`).

Trigger a manual run with config, e.g. `{"date": "2026-11-24", "rows": 50000}`;
`{"fail_first_attempts": 1}` makes the first `score` attempt crash half-way, to watch a retry
replace the staged output without anything partial becoming visible.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, task

from course_models.tasks import TaskNotImplemented  # noqa: F401 (the student edition's stub)
from lab5_batch_vs_realtime.settings import get_settings

# Only light imports at parse time (the standard library, the Task SDK, pydantic settings): the
# DAG processor parses this file every few seconds, so pandas, sklearn and the model are
# imported inside the tasks.
RETRY_DELAY = timedelta(seconds=get_settings().retry_delay_seconds)


# BEGIN TASK 5.5: the daily batch DAG (land -> score -> validate, retries, no partial output)
@dag(
    dag_id="lab5_churn_batch",
    description="Land a day's customers, score them with the churn model, validate the output",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    is_paused_upon_creation=True,
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

        # Manual runs in Airflow 3 have no logical date: fall back to the param, then run_after.
        when = params.get("date") or logical_date or dag_run.run_after
        day = parse_date(when).isoformat()
        landed = land_day(day, get_settings(), rows=params.get("rows"))
        return {**landed, "date": day}

    @task
    def score(landed: dict, params=None, ti=None) -> dict:
        from lab5_batch_vs_realtime.batch import run_batch

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


# STUB
# @dag(dag_id="lab5_churn_batch", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC))
# def lab5_churn_batch():
#     @task(retries=0)
#     def todo() -> None:
#         raise TaskNotImplemented("5.5", "the daily batch DAG (land -> score -> validate)")
#
#     todo()
# END TASK 5.5


DAG = lab5_churn_batch()

# Optional: with LAB5_SINK=bigquery (read when the file is parsed) a `publish_bigquery` task
# follows `validate` and replaces the day's partition of the BigQuery table (bigquery_sink.py).
# Off by default, so the DAG is the three tasks above.
if get_settings().sink == "bigquery" and "validate" in DAG.task_ids:
    with DAG:

        @task(retries=2)
        def publish_bigquery(ti=None) -> dict:
            from lab5_batch_vs_realtime.bigquery_sink import publish_partition

            landed = ti.xcom_pull(task_ids="land_input")
            s = get_settings()
            return publish_partition(s.output_uri, landed["date"], s)

        DAG.get_task("validate") >> publish_bigquery()
