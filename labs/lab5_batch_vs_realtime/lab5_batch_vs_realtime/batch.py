"""The batch pipeline: land a day's input, score it in chunks, validate what was written.

Each step is a plain function so the CLI, the Airflow tasks and the benchmark call the very same
code. Scoring goes through ``course_models.tabular.predict_proba``, exactly like the real-time
service, so both modes give the same number for the same customer.
"""

from __future__ import annotations

import time
from datetime import date as Date
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from course_models.artifacts import load_artifact
from course_models.datasets import write_churn_parquet
from course_models.schema import ID_COLUMN, feature_names
from course_models.tabular import predict_proba
from lab5_batch_vs_realtime.settings import MODEL_NAME, Settings, get_settings
from lab5_batch_vs_realtime.storage import join, new_run_id, storage_for

EPOCH = Date(2020, 1, 1)
OUTPUT_SCHEMA = pa.schema(
    [
        pa.field(ID_COLUMN, pa.int64(), nullable=False),
        pa.field("churn_probability", pa.float64(), nullable=False),
        pa.field("model_version", pa.int32(), nullable=False),
    ]
)


class ValidationFailed(RuntimeError):
    """The written partition does not match its input: a data problem, not worth a retry."""


class InjectedFailure(RuntimeError):
    """Raised on purpose (``fail_after_chunks``) to rehearse a crash in the middle of a run."""


def parse_date(value: str | Date) -> Date:
    """A calendar day from a date, a datetime (Airflow's logical date) or an ISO string."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, Date) else Date.fromisoformat(str(value)[:10])


def partition_name(day: str | Date) -> str:
    return f"date={parse_date(day).isoformat()}"


def day_start_row(day: str | Date, rows_per_day: int) -> int:
    """Row offset of a day's customers in the deterministic generator: same date, same rows."""
    offset = (parse_date(day) - EPOCH).days
    if offset < 0:
        raise ValueError(f"dates start at {EPOCH.isoformat()}, got {day}")
    return offset * rows_per_day


def land_day(day: str | Date, settings: Settings | None = None, rows: int | None = None) -> dict:
    """Write the day's input under ``<input_uri>/date=<day>/`` (replacing an earlier landing)."""
    s = settings or get_settings()
    rows = s.rows_per_day if rows is None else rows
    start = day_start_row(day, s.rows_per_day)
    store = storage_for(s.input_uri, s)
    run_id = new_run_id()
    with store.staging(s.input_uri) as staged:
        write_churn_parquet(staged, rows, seed=s.seed, start=start, rows_per_file=s.rows_per_file)
        uri = store.commit(
            s.input_uri,
            partition_name(day),
            staged,
            {"run_id": run_id, "rows": rows, "seed": s.seed, "start_row": start},
        )
    return {"input": uri, "rows": rows, "start_row": start, "run_id": run_id}


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )


def run_batch(
    input_uri: str,
    output_uri: str,
    day: str | Date,
    version: int | None = None,
    settings: Settings | None = None,
    progress: bool = False,
    fail_after_chunks: int | None = None,
    model: Any = None,
) -> dict[str, Any]:
    """Score every row under ``input_uri`` and commit ``<output_uri>/date=<day>/``.

    Memory is bounded by ``chunk_rows`` (one record batch at a time) and ``rows_per_file``
    (output files are closed and replaced as they fill), whatever the input size.
    """
    s = settings or get_settings()
    started = time.perf_counter()
    cpu_started = time.process_time()
    if model is None:
        art = load_artifact(MODEL_NAME, version, s.artifacts_dir)
        model, version = art.model, art.version
    elif version is None:
        raise ValueError("pass the version of the model you pass")
    in_store = storage_for(input_uri, s)
    out_store = storage_for(output_uri, s)
    files = in_store.list_parquet(input_uri)
    manifest_in = in_store.read_manifest(input_uri) or {}
    wanted = [ID_COLUMN, *feature_names(version)]
    run_id = new_run_id()
    rows_in = rows_out = chunks = 0

    with out_store.staging(output_uri) as staged, _progress(progress) as bar:
        task = bar.add_task("score", total=manifest_in.get("rows"))
        writer: pq.ParquetWriter | None = None
        in_file = 0
        n_files = 0
        try:
            for uri in files:
                with in_store.fetch(uri) as local:
                    pf = pq.ParquetFile(local)
                    columns = [c for c in wanted if c in pf.schema_arrow.names]
                    for record_batch in pf.iter_batches(batch_size=s.chunk_rows, columns=columns):
                        frame = record_batch.to_pandas()
                        proba = predict_proba(model, frame, version)
                        table = pa.Table.from_arrays(
                            [
                                pa.array(frame[ID_COLUMN].to_numpy(np.int64)),
                                pa.array(proba),
                                pa.array(np.full(len(proba), version, dtype=np.int32)),
                            ],
                            schema=OUTPUT_SCHEMA,
                        )
                        rows_in += len(frame)
                        offset = 0
                        while offset < table.num_rows:
                            if writer is None:
                                path = Path(staged) / f"part-{n_files:05d}.parquet"
                                writer = pq.ParquetWriter(path, OUTPUT_SCHEMA)
                                n_files += 1
                                in_file = 0
                            take = min(s.rows_per_file - in_file, table.num_rows - offset)
                            writer.write_table(table.slice(offset, take))
                            in_file += take
                            offset += take
                            rows_out += take
                            if in_file >= s.rows_per_file:
                                writer.close()
                                writer = None
                        chunks += 1
                        bar.update(task, advance=len(frame))
                        if fail_after_chunks is not None and chunks >= fail_after_chunks:
                            raise InjectedFailure(
                                f"injected failure after {chunks} chunk(s), {rows_out} rows "
                                "written to staging (nothing is committed)"
                            )
        finally:
            if writer is not None:
                writer.close()
        final = out_store.commit(
            output_uri,
            partition_name(day),
            staged,
            {
                "run_id": run_id,
                "rows": rows_out,
                "rows_in": rows_in,
                "model": MODEL_NAME,
                "model_version": version,
                "input": input_uri,
                "input_run_id": manifest_in.get("run_id"),
            },
        )
    seconds = time.perf_counter() - started
    return {
        "date": parse_date(day).isoformat(),
        "output": final,
        "model_version": version,
        "rows_in": rows_in,
        "rows_out": rows_out,
        "chunks": chunks,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows_out / seconds, 1) if seconds else 0.0,
        "cpu_seconds": round(time.process_time() - cpu_started, 3),
        "run_id": run_id,
    }


def count_rows(uri: str, settings: Settings | None = None) -> int:
    """Rows in a committed dataset folder, from the Parquet footers (no data read)."""
    store = storage_for(uri, settings)
    total = 0
    for f in store.list_parquet(uri):
        with store.fetch(f) as local:
            total += pq.ParquetFile(local).metadata.num_rows
    return total


def validate_partition(
    input_uri: str, output_uri: str, day: str | Date, settings: Settings | None = None
) -> dict[str, Any]:
    """Check a committed output partition: rows in == rows out, no duplicate ids, no strays.

    Ids are checked for strict increase while streaming (inputs are written in id order and
    scored in order), so duplicates are caught without holding every id in memory.
    """
    s = settings or get_settings()
    store = storage_for(output_uri, s)
    part = join(output_uri, partition_name(day))
    manifest = store.read_manifest(part)
    if manifest is None:
        raise ValidationFailed(f"{part} has no {partition_name(day)}/_SUCCESS: never committed")
    rows_in = count_rows(input_uri, s)
    rows_out = 0
    last = -1
    for f in store.list_parquet(part):
        with store.fetch(f) as local:
            pf = pq.ParquetFile(local)
            for batch in pf.iter_batches(batch_size=s.chunk_rows, columns=[ID_COLUMN]):
                ids = batch.column(0).to_numpy()
                if len(ids) and (ids[0] <= last or np.any(np.diff(ids) <= 0)):
                    raise ValidationFailed(f"{f}: customer ids repeat or are out of order")
                last = int(ids[-1]) if len(ids) else last
                rows_out += len(ids)
    listed = set(manifest["files"]) | {"_SUCCESS"}
    strays = [k for k in store.list_all(part) if k not in listed]
    problems = []
    if rows_out != rows_in:
        problems.append(f"rows out {rows_out} != rows in {rows_in}")
    if rows_out != manifest["rows"]:
        problems.append(f"rows out {rows_out} != manifest rows {manifest['rows']}")
    if strays:
        problems.append(f"files not in the manifest: {strays[:5]}")
    if problems:
        raise ValidationFailed(f"{part}: " + "; ".join(problems))
    return {"partition": part, "rows_in": rows_in, "rows_out": rows_out, "files": len(listed) - 1}
