"""Publish a committed partition to a date-partitioned BigQuery table (``batch --sink bigquery``).

The day's published Parquet files (the ones its ``_SUCCESS`` manifest names) are uploaded as
**load jobs** into a private staging table, the loaded row count is checked against the
manifest, and one ``MERGE`` then replaces the day's partition of the target table:

    MERGE target T USING (staged rows + @day + @run_id) S ON FALSE
    WHEN NOT MATCHED BY SOURCE AND T.date = @day THEN DELETE   -- the day's old rows
    WHEN NOT MATCHED THEN INSERT (...) VALUES (...)              -- the new ones

One DML statement is atomic in BigQuery, so a reader sees the old day or the new day, never
both and never half; a rerun replaces the day instead of duplicating it, and other days are
untouched. Why not a load with ``WRITE_TRUNCATE`` into ``table$YYYYMMDD`` (BigQuery's partition
decorator)? The published files carry no ``date`` column (it is the folder's name, Hive style),
and a decorated load into a column-partitioned table needs every row's ``date`` in the file; the
local emulator also rejects decorators (lab README, "BigQuery"). The staging table expires by
itself after a day should a run die before it drops it.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lab5_batch_vs_realtime.settings import Settings, get_settings
from lab5_batch_vs_realtime.storage import join, store_for

if TYPE_CHECKING:  # google-cloud-bigquery is imported when the sink runs, not with the lab
    from google.cloud import bigquery

PARTITION_COLUMN = "date"
# The published Parquet columns in file order (the emulator loads Parquet by position).
FILE_COLUMNS = (
    ("customer_id", "INT64"),
    ("churn_probability", "FLOAT64"),
    ("model_version", "INT64"),
)


class SinkError(RuntimeError):
    """The BigQuery sink cannot publish: bad configuration, no committed partition, a failed
    job or a row count that does not match the manifest. Nothing is replaced then."""


def _fields(bigquery) -> list:
    return [bigquery.SchemaField(name, kind, mode="REQUIRED") for name, kind in FILE_COLUMNS]


def target_schema(bigquery) -> list:
    """The table's columns: the file's, plus the day and the run that published it."""
    return [
        *_fields(bigquery),
        bigquery.SchemaField(PARTITION_COLUMN, "DATE", mode="REQUIRED"),
        bigquery.SchemaField("run_id", "STRING", mode="REQUIRED"),
    ]


def make_client(settings: Settings) -> bigquery.Client:
    """A client for Google's API (Application Default Credentials) or, with ``bq_endpoint``,
    for an emulator (anonymous credentials: the emulator checks none)."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    if not settings.bq_project:
        raise SinkError("the BigQuery sink needs LAB5_BQ_PROJECT (the Google Cloud project id)")
    if settings.bq_endpoint is None:
        return bigquery.Client(project=settings.bq_project, location=settings.bq_location)
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=settings.bq_project,
        location=settings.bq_location,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=settings.bq_endpoint.rstrip("/")),
    )


def table_id(settings: Settings) -> str:
    return f"{settings.bq_project}.{settings.bq_dataset}.{settings.bq_table}"


def ensure_table(client: bigquery.Client, settings: Settings) -> bigquery.Table:
    """The dataset and the day-partitioned table, created when missing (with the schema: a
    load job could create it on BigQuery, not on the emulator); an existing table must be
    partitioned by day on ``date`` or the sink refuses it."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    dataset = bigquery.Dataset(f"{settings.bq_project}.{settings.bq_dataset}")
    if settings.bq_location:
        dataset.location = settings.bq_location
    client.create_dataset(dataset, exists_ok=True)
    try:
        table = client.get_table(table_id(settings))
    except NotFound:
        table = bigquery.Table(table_id(settings), schema=target_schema(bigquery))
        table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=PARTITION_COLUMN
        )
        table.description = "lab 5 churn predictions, one partition per batch day"
        return client.create_table(table, exists_ok=True)
    tp = table.time_partitioning
    if tp is None or tp.field != PARTITION_COLUMN or tp.type_ != "DAY":
        raise SinkError(
            f"{table_id(settings)} exists but is not partitioned by DAY on `{PARTITION_COLUMN}` "
            f"(found {tp}); point LAB5_BQ_TABLE at another table"
        )
    return table


def _run(job, what: str):
    """Wait for a job; its error names the job and the step instead of a bare 400."""
    from google.api_core.exceptions import GoogleAPIError

    try:
        return job.result()
    except GoogleAPIError as exc:
        raise SinkError(f"BigQuery {what} failed: {exc}") from exc


def _replace_sql(target: str, staging: str) -> str:
    cols = [name for name, _ in FILE_COLUMNS]
    every = [*cols, PARTITION_COLUMN, "run_id"]
    return (
        f"MERGE `{target}` T\n"
        f"USING (SELECT {', '.join(cols)}, @day AS {PARTITION_COLUMN}, @run_id AS run_id "
        f"FROM `{staging}`) S\n"
        "ON FALSE\n"
        f"WHEN NOT MATCHED BY SOURCE AND T.{PARTITION_COLUMN} = @day THEN DELETE\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(every)})\n"
        f"  VALUES ({', '.join('S.' + c for c in every)})"
    )


def _bq():
    from google.cloud import bigquery

    return bigquery


def publish_partition(
    output_uri: str,
    day: str,
    settings: Settings | None = None,
    client: bigquery.Client | None = None,
) -> dict[str, Any]:
    """Load the committed partition ``<output_uri>/date=<day>/`` into BigQuery, replacing that
    day's partition. Returns what was done and the day's row count as queried back."""
    from lab5_batch_vs_realtime.batch import parse_date, partition_name

    bigquery = _bq()
    s = settings or get_settings()
    started = time.perf_counter()
    the_day = parse_date(day)
    store = store_for(output_uri, s)
    part_uri = join(output_uri, partition_name(the_day))
    manifest = store.read_manifest(part_uri)
    if manifest is None:
        raise SinkError(f"{part_uri} is not committed (no _SUCCESS): nothing to publish")
    client = client or make_client(s)
    ensure_table(client, s)
    run_id = manifest.get("run_id") or "unknown"
    staging = f"{table_id(s)}__load_{the_day:%Y%m%d}_{uuid.uuid4().hex[:8]}"
    staged = bigquery.Table(staging, schema=_fields(bigquery))
    staged.expires = datetime.now(UTC) + timedelta(days=1)
    client.create_table(staged)
    try:
        for i, path in enumerate(store.list_parquet(part_uri)):
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                write_disposition="WRITE_TRUNCATE" if i == 0 else "WRITE_APPEND",
            )
            with store.fs.open_input_file(path) as f:
                job = client.load_table_from_file(f, staging, job_config=config, rewind=True)
                _run(job, f"load of {store.uri(path)}")
        loaded = client.get_table(staging).num_rows
        if loaded != manifest["rows"]:
            raise SinkError(
                f"loaded {loaded} rows into {staging}, the manifest says {manifest['rows']}: "
                "the partition was not replaced"
            )
        params = [
            bigquery.ScalarQueryParameter("day", "DATE", the_day),
            bigquery.ScalarQueryParameter("run_id", "STRING", run_id),
        ]
        merge = client.query(
            _replace_sql(table_id(s), staging),
            job_config=bigquery.QueryJobConfig(query_parameters=params),
        )
        _run(merge, f"replace of partition {the_day:%Y%m%d}")
    finally:
        client.delete_table(staging, not_found_ok=True)
    rows = partition_rows(client, s).get(the_day.isoformat(), 0)
    return {
        "table": table_id(s),
        "partition": f"{the_day:%Y%m%d}",
        "rows_loaded": loaded,
        "rows_in_partition": rows,
        "dml_affected_rows": merge.num_dml_affected_rows,
        "run_id": run_id,
        "seconds": round(time.perf_counter() - started, 3),
    }


def partition_rows(client: bigquery.Client, settings: Settings) -> dict[str, int]:
    """Rows per day, counted by a query (exact; ``INFORMATION_SCHEMA.PARTITIONS`` agrees)."""
    sql = (
        f"SELECT {PARTITION_COLUMN} AS day, COUNT(*) AS n FROM `{table_id(settings)}` "
        f"GROUP BY {PARTITION_COLUMN} ORDER BY {PARTITION_COLUMN}"
    )
    rows = _run(client.query(sql), "row count query")
    return {row["day"].isoformat(): row["n"] for row in rows}
