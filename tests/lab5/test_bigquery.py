"""The BigQuery sink against a real BigQuery API (bqemulator over HTTP on a free port): a run, a
rerun of the same day, a second day, row counts per partition queried back through the client."""

from __future__ import annotations

import pyarrow.dataset as ds
import pytest
from pydantic import ValidationError

from lab5_batch_vs_realtime.__main__ import main
from lab5_batch_vs_realtime.batch import land_day, partition_name, run_batch
from lab5_batch_vs_realtime.bigquery_sink import (
    SinkError,
    make_client,
    partition_rows,
    publish_partition,
    table_id,
)
from lab5_batch_vs_realtime.settings import Settings
from lab5_batch_vs_realtime.storage import join

pytestmark = [pytest.mark.integration, pytest.mark.points(0)]
DAY, NEXT = "2026-11-24", "2026-11-25"


def score_day(s: Settings, day: str) -> dict:
    landed = land_day(day, s)
    return run_batch(landed["input"], s.output_uri, day, settings=s)


def information_schema(client, s: Settings) -> dict[str, int]:
    sql = (
        f"SELECT partition_id, total_rows FROM `{s.bq_project}.{s.bq_dataset}"
        f".INFORMATION_SCHEMA.PARTITIONS` WHERE table_name = '{s.bq_table}'"
    )
    return {r["partition_id"]: r["total_rows"] for r in client.query(sql).result()}


def test_run_rerun_and_second_day_replace_partitions(bq_settings):
    s = bq_settings
    client = make_client(s)

    first = score_day(s, DAY)
    published = publish_partition(s.output_uri, DAY, s)
    assert published["partition"] == "20261124"
    assert published["rows_loaded"] == published["rows_in_partition"] == 3000
    assert partition_rows(client, s) == {DAY: 3000}

    rerun = score_day(s, DAY)  # a rerun of the day: replaced, not appended
    assert rerun["run_id"] != first["run_id"]
    again = publish_partition(s.output_uri, DAY, s)
    assert again["rows_in_partition"] == 3000
    assert again["dml_affected_rows"] == 6000  # 3,000 deleted + 3,000 inserted
    assert partition_rows(client, s) == {DAY: 3000}
    runs = client.query(f"SELECT DISTINCT run_id FROM `{table_id(s)}`").result()
    assert [r["run_id"] for r in runs] == [rerun["run_id"]]

    score_day(s, NEXT)
    publish_partition(s.output_uri, NEXT, s)
    assert partition_rows(client, s) == {DAY: 3000, NEXT: 3000}
    assert information_schema(client, s) == {"20261124": 3000, "20261125": 3000}

    # the rows are the published ones: same ids and probabilities as the Parquet partition
    local = ds.dataset(join(s.output_uri, partition_name(NEXT)), format="parquet").to_table()
    sql = (
        f"SELECT customer_id, churn_probability FROM `{table_id(s)}` "
        f"WHERE date = '{NEXT}' ORDER BY customer_id"
    )
    remote = client.query(sql).to_arrow(create_bqstorage_client=False)
    assert remote["customer_id"].to_pylist() == local["customer_id"].to_pylist()
    assert remote["churn_probability"].to_pylist() == local["churn_probability"].to_pylist()


def test_cli_batch_with_the_sink(bq_settings, capsys):
    s = bq_settings
    land_day(DAY, s)
    assert main(["batch", "--date", DAY, "--no-progress", "--sink", "bigquery"]) == 0
    assert '"rows_in_partition": 3000' in capsys.readouterr().out
    assert partition_rows(make_client(s), s) == {DAY: 3000}


def test_uncommitted_partition_is_refused(bq_settings):
    with pytest.raises(SinkError, match="not committed"):
        publish_partition(bq_settings.output_uri, DAY, bq_settings)


def test_table_partitioned_otherwise_is_refused(bq_settings):
    from google.cloud import bigquery

    s = bq_settings
    client = make_client(s)
    client.create_dataset(f"{s.bq_project}.{s.bq_dataset}", exists_ok=True)
    client.create_table(bigquery.Table(table_id(s), schema=[bigquery.SchemaField("x", "INT64")]))
    score_day(s, DAY)
    with pytest.raises(SinkError, match="not partitioned by DAY on `date`"):
        publish_partition(s.output_uri, DAY, s)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"LAB5_SINK": "bigquery"}, "LAB5_BQ_PROJECT"),
        ({"LAB5_SINK": "bigquery", "LAB5_BQ_PROJECT": "Bad_Project"}, "bq_project"),
        ({"LAB5_BQ_TABLE": "preds$20261124"}, "bq_table"),
        ({"LAB5_BQ_ENDPOINT": "localhost:9050"}, "bq_endpoint"),
        ({"LAB5_SINK": "bq"}, "sink"),
    ],
)
def test_bad_config_is_a_clear_error(env, field, monkeypatch, capsys):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=field):
        Settings()
    assert main(["batch", "--date", DAY, "--no-progress"]) == 2  # before any work starts
    assert field in capsys.readouterr().err


def test_sink_is_off_by_default():
    assert Settings().sink == "none"
