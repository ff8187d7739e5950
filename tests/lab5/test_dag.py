"""The Airflow DAG: it parses cleanly and cheaply, and whole runs work (``dag.test()``)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lab5_batch_vs_realtime.batch import partition_name, validate_partition
from lab5_batch_vs_realtime.storage import join, store_for

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(300)]
DAG_ID = "lab5_churn_batch"
DAGS_FOLDER = Path(__file__).resolve().parents[2] / "labs" / "lab5_batch_vs_realtime" / "dags"


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.mark.task("5.5")
@pytest.mark.points(2)
def test_dag_imports_without_errors_and_declares_its_tasks(dagbag):
    assert dagbag.import_errors == {}
    dag = dagbag.get_dag(DAG_ID)
    assert dag is not None, f"{DAG_ID} not found in {DAGS_FOLDER}: {list(dagbag.dags)}"
    assert set(dag.task_ids) == {"land_input", "score", "validate"}
    assert dag.get_task("score").upstream_task_ids == {"land_input"}
    assert dag.get_task("validate").upstream_task_ids == {"land_input", "score"}
    assert dag.get_task("land_input").retries == 3
    assert dag.get_task("score").retries == 2
    assert dag.get_task("validate").retries == 0, "a data mismatch must fail, not retry"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.schedule == "@daily", "the scheduler triggers the batch daily"
    # arrives paused: nothing races a `dags test` or a trigger until someone unpauses it
    assert dag.is_paused_upon_creation is True
    dag.check_cycle()  # raises on a cycle
    assert next(t.task_id for t in dag.topological_sort()) == "land_input"


@pytest.mark.points(0)
def test_dag_file_does_no_heavy_work_at_import():
    """The DAG processor re-parses the file constantly: no pandas/sklearn/model at import."""
    import subprocess

    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('pandas', 'sklearn', 'xgboost', 'pyarrow', "
        "'lab5_batch_vs_realtime.batch') if m in sys.modules]; print(heavy); "
        "sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(DAGS_FOLDER / "lab5_churn_batch.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]


def _task_states(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in run.get_task_instances()}


@pytest.mark.task("5.5")
@pytest.mark.points(2)
def test_dag_run_end_to_end_writes_a_valid_partition(dagbag, lab5_settings):
    day = datetime(2026, 11, 20, tzinfo=UTC)
    run = dagbag.get_dag(DAG_ID).test(logical_date=day, run_conf={"rows": 3000})
    states = _task_states(run)
    assert str(run.state).endswith("success"), states
    assert all(state.endswith("success") for state, _ in states.values()), states
    report = validate_partition(
        join(lab5_settings.input_uri, partition_name(day)), lab5_settings.output_uri, day
    )
    assert report["rows_in"] == report["rows_out"] == 3000
    manifest = store_for(lab5_settings.output_uri).read_manifest(
        join(lab5_settings.output_uri, partition_name(day))
    )
    assert manifest["model_version"] == 2 and manifest["rows"] == 3000


@pytest.mark.task("5.5")
@pytest.mark.points(2)
def test_dag_score_failure_is_retried_and_leaves_nothing_partial(dagbag, lab5_settings):
    """Attempt 1 of `score` crashes after writing one chunk to staging; attempt 2 succeeds."""
    day = datetime(2026, 11, 21, tzinfo=UTC)
    t0 = time.monotonic()
    run = dagbag.get_dag(DAG_ID).test(
        logical_date=day, run_conf={"rows": 3000, "fail_first_attempts": 1}
    )
    states = _task_states(run)
    assert str(run.state).endswith("success"), states
    assert states["score"][1] == 2, f"score should have needed a retry: {states}"
    assert states["land_input"][1] == 1
    part = Path(lab5_settings.output_uri) / partition_name(day)
    assert sorted(p.name for p in part.iterdir()) == [
        "_SUCCESS",
        "part-0.parquet",
        "part-1.parquet",
    ]
    staging = Path(lab5_settings.output_uri) / "_staging"
    assert not staging.exists() or not any(staging.iterdir()), "the crashed attempt left staging"
    assert time.monotonic() - t0 < 280  # bounded: the retry delay comes from the test env


@pytest.mark.points(0)
def test_make_lab5_configures_airflow_for_a_small_shared_machine(tmp_path):
    from lab5_batch_vs_realtime.stack import DAGS_FOLDER as STACK_DAGS
    from lab5_batch_vs_realtime.stack import airflow_env

    env = airflow_env(tmp_path, 18123)
    assert Path(env["AIRFLOW__CORE__DAGS_FOLDER"]) == STACK_DAGS == DAGS_FOLDER
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18123/execution/"
    assert env["AIRFLOW__API__PORT"] == "18123" and env["AIRFLOW_HOME"] == str(tmp_path)
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) <= 4
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
