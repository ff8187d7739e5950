"""The batch pipeline: land a day's input, score it in chunks, validate what was written.

Each step is a plain function so the CLI, the Airflow tasks and the benchmark call the very same
code. Scoring goes through ``scoring.score_frame``, exactly like the real-time service, so both
modes give the same number for the same customer. Files are read through ``pyarrow.fs`` (ranged,
seekable reads on S3) and written with ``pyarrow.parquet.ParquetWriter`` onto the same file
system (files rolled at ``rows_per_file``, row groups of ``chunk_rows``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from course_models.datasets import LABEL, iter_churn_blocks
from course_models.schema import ID_COLUMN, feature_names
from course_models.tasks import TaskNotImplemented  # noqa: F401 (the student edition's stub)
from lab5_batch_vs_realtime.scoring import load_model, score_frame
from lab5_batch_vs_realtime.settings import MODEL_NAME, Settings, get_settings
from lab5_batch_vs_realtime.storage import Partition, Store, join, new_run_id, store_for

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


Drill = Literal["before-commit", "in-commit"]


def pause_for_kill(where: str) -> None:
    """Kill drills: say where the run stopped, then wait to be SIGKILLed (never returns)."""
    print(f"lab5 drill: paused {where}; waiting for SIGKILL", flush=True)
    threading.Event().wait()


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


class _RollingWriter:
    """``part-N.parquet`` files of at most ``rows_per_file`` rows and row groups of at most
    ``rows_per_group``, written synchronously: nothing is queued, so memory stays one row group
    deep (``pyarrow.dataset.write_dataset`` queues up to 64 M rows when the producer is faster
    than the writer; its pool grew 34 -> 195 MB from 200k to 4M rows)."""

    def __init__(
        self,
        store: Store,
        directory: str,
        schema: pa.Schema,
        rows_per_file: int,
        rows_per_group: int,
    ):
        self.store, self.directory, self.schema = store, directory, schema
        self.rows_per_file, self.rows_per_group = rows_per_file, min(rows_per_group, rows_per_file)
        self.names: list[str] = []
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = self._file_rows = 0
        self._sink: Any = None
        self._writer: pq.ParquetWriter | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        offset = 0
        while offset < batch.num_rows:
            room = min(
                self.rows_per_group - self._pending_rows,
                self.rows_per_file - self._file_rows - self._pending_rows,
            )
            piece = batch.slice(offset, room)
            self._pending.append(piece)
            self._pending_rows += piece.num_rows
            offset += piece.num_rows
            if self._pending_rows == self.rows_per_group or (
                self._file_rows + self._pending_rows == self.rows_per_file
            ):
                self._flush()

    def _flush(self) -> None:
        if not self._pending_rows:
            return
        if self._writer is None:
            name = f"part-{len(self.names)}.parquet"
            self._sink = self.store.fs.open_output_stream(join(self.directory, name))
            self._writer = pq.ParquetWriter(self._sink, self.schema)
            self.names.append(name)
        table = pa.Table.from_batches(self._pending, self.schema)
        self._writer.write_table(table, row_group_size=self.rows_per_group)
        self._file_rows += self._pending_rows
        self._pending, self._pending_rows = [], 0
        if self._file_rows == self.rows_per_file:
            self._close_file()

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
        self._writer = self._sink = None
        self._file_rows = 0

    def close(self) -> list[str]:
        self._flush()
        self._close_file()
        return self.names


def write_parts(
    batches: Iterable[pa.RecordBatch],
    store: Store,
    directory: str,
    schema: pa.Schema,
    rows_per_file: int,
    rows_per_group: int,
) -> list[str]:
    """Stream record batches into ``part-N.parquet`` files; returns their names, in order."""
    if not store.s3:  # S3 has no folders to create
        store.fs.create_dir(directory, recursive=True)
    writer = _RollingWriter(store, directory, schema, rows_per_file, rows_per_group)
    try:
        for batch in batches:
            writer.add(batch)
    except BaseException:
        writer._close_file()  # the caller deletes the staging folder
        raise
    return writer.close()


def release_memory_promptly() -> str:
    """Make Arrow hand freed memory back to the OS at once; returns the pool's backend.

    Arrow's default pool (mimalloc) keeps freed pages for reuse, so peak RSS crept up chunk
    after chunk; jemalloc with a decay of 0 ms returns them immediately (measured: 354/408/442 MB
    -> about 300/340/340 MB at 200k/1M/4M rows). Pools are process-wide; buffers already
    allocated stay with the pool that made them.
    """
    try:
        pool = pa.jemalloc_memory_pool()
        pa.jemalloc_set_decay_ms(0)
    except NotImplementedError:  # a pyarrow built without jemalloc: keep its default
        return pa.default_memory_pool().backend_name
    pa.set_memory_pool(pool)
    return pool.backend_name


def peak_rss_mb() -> float:
    """This process's peak RSS since it started (``VmHWM``: a fresh count after exec, unlike
    ``ru_maxrss``, which a spawned child inherits from its parent's peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _input_batches(n_rows: int, seed: int, start: int) -> Iterator[pa.RecordBatch]:
    for block in iter_churn_blocks(n_rows, seed, start):
        yield pa.RecordBatch.from_pandas(block.drop(columns=[LABEL]), preserve_index=False)


def land_day(day: str | Date, settings: Settings | None = None, rows: int | None = None) -> dict:
    """Write the day's input under ``<input_uri>/date=<day>/`` (replacing an earlier landing)."""
    s = settings or get_settings()
    rows = s.rows_per_day if rows is None else rows
    start = day_start_row(day, s.rows_per_day)
    part = Partition(store_for(s.input_uri, s), s.input_uri, partition_name(day), new_run_id())
    part.clean_debris()
    batches = _input_batches(rows, s.seed, start)
    first = next(batches)
    names = write_parts(
        itertools.chain([first], batches),
        part.store,
        part.staging,
        first.schema,
        s.rows_per_file,
        s.chunk_rows,
    )
    uri = part.commit(names, {"rows": rows, "seed": s.seed, "start_row": start})
    return {"input": uri, "rows": rows, "start_row": start, "run_id": part.run_id}


def _progress(enabled: bool):
    from rich import progress as rp

    return rp.Progress(
        rp.TextColumn("scoring"),
        rp.BarColumn(),
        rp.MofNCompleteColumn(),
        rp.TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )


@dataclass
class _Scoring:
    """One pass over the input: counts what it read and scored, optionally crashes on purpose."""

    store: Store
    files: list[str]
    model: Any
    version: int
    chunk_rows: int
    fail_after_chunks: int | None = None
    on_chunk: Any = None
    rows: int = 0
    chunks: int = 0

    # BEGIN TASK 5.3: read the input in bounded chunks, score each, yield the scored batches
    def batches(self) -> Iterator[pa.RecordBatch]:
        wanted = [ID_COLUMN, *feature_names(self.version)]
        for path in self.files:
            with self.store.fs.open_input_file(path) as f:  # seekable: only the needed ranges
                pf = pq.ParquetFile(f)
                columns = [c for c in wanted if c in pf.schema_arrow.names]
                for batch in pf.iter_batches(batch_size=self.chunk_rows, columns=columns):
                    yield self._score(batch)

    # STUB
    # def batches(self) -> Iterator[pa.RecordBatch]:
    #     raise TaskNotImplemented("5.3", "chunked batch scoring (read in chunks, score, yield)")
    # END TASK 5.3

    def _score(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        proba = score_frame(self.model, batch)
        out = pa.RecordBatch.from_arrays(
            [
                batch.column(ID_COLUMN).cast(pa.int64()),
                pa.array(proba, pa.float64()),
                pa.array(np.full(len(proba), self.version, dtype=np.int32)),
            ],
            schema=OUTPUT_SCHEMA,
        )
        self.rows += len(proba)
        self.chunks += 1
        if self.on_chunk is not None:
            self.on_chunk(len(proba))
        if self.fail_after_chunks is not None and self.chunks >= self.fail_after_chunks:
            raise InjectedFailure(
                f"injected failure after {self.chunks} chunk(s), {self.rows} rows scored "
                "into staging (nothing is committed)"
            )
        return out


def run_batch(
    input_uri: str,
    output_uri: str,
    day: str | Date,
    version: int | None = None,
    settings: Settings | None = None,
    progress: bool = False,
    fail_after_chunks: int | None = None,
    model: Any = None,
    drill: Drill | None = None,
) -> dict[str, Any]:
    """Score every row under ``input_uri`` and commit ``<output_uri>/date=<day>/``.

    Memory is bounded by ``chunk_rows`` (one record batch in flight, row groups of that size)
    and does not grow with the input; the previous run's debris is removed first.
    """
    s = settings or get_settings()
    release_memory_promptly()
    started, cpu_started = time.perf_counter(), time.process_time()
    if model is None:
        model, version = load_model(version, s.artifacts_dir, s.scorer)
    elif version is None:
        raise ValueError("pass the version of the model you pass")
    in_store = store_for(input_uri, s)
    manifest_in = in_store.read_manifest(input_uri) or {}
    part = Partition(store_for(output_uri, s), output_uri, partition_name(day), new_run_id())
    debris = part.clean_debris()
    with _progress(progress) as bar:
        task = bar.add_task("score", total=manifest_in.get("rows"))
        scoring = _Scoring(
            in_store,
            in_store.list_parquet(input_uri),
            model,
            version,
            s.chunk_rows,
            fail_after_chunks,
            on_chunk=lambda n: bar.update(task, advance=n),
        )
        try:
            names = write_parts(
                scoring.batches(),
                part.store,
                part.staging,
                OUTPUT_SCHEMA,
                s.rows_per_file,
                s.chunk_rows,
            )
        except BaseException:
            part.store.delete_dir(part.staging)  # a killed run cannot: the next one does
            raise
    if drill == "before-commit":
        pause_for_kill(f"with {len(names)} file(s) staged, nothing committed")
    placed = (lambda name: pause_for_kill(f"in the commit after placing {name}")) if drill else None
    final = part.commit(
        names,
        {
            "rows": scoring.rows,
            "rows_in": scoring.rows,
            "model": MODEL_NAME,
            "model_version": version,
            "input": input_uri,
            "input_run_id": manifest_in.get("run_id"),
        },
        on_placed=placed,
    )
    seconds = time.perf_counter() - started
    return {
        "date": parse_date(day).isoformat(),
        "output": final,
        "model_version": version,
        "rows_in": scoring.rows,
        "rows_out": scoring.rows,
        "chunks": scoring.chunks,
        "seconds": round(seconds, 3),
        "rows_per_s": round(scoring.rows / seconds, 1) if seconds else 0.0,
        "cpu_seconds": round(time.process_time() - cpu_started, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "run_id": part.run_id,
        "debris_removed": debris,
    }


def count_rows(uri: str, settings: Settings | None = None) -> int:
    """Rows in a dataset (the manifest's files when committed), from the footers only."""
    store = store_for(uri, settings)
    total = 0
    for path in store.list_parquet(uri):
        with store.fs.open_input_file(path) as f:
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def _streamed_ids(store: Store, files: list[str], chunk_rows: int) -> int:
    """Rows in ``files``; ids must strictly increase (inputs are in id order, scored in order),
    so duplicates are caught without holding every id in memory."""
    rows, last = 0, -1
    for path in files:
        with store.fs.open_input_file(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=chunk_rows, columns=[ID_COLUMN]):
                ids = batch.column(0).to_numpy()
                if len(ids) and (ids[0] <= last or np.any(np.diff(ids) <= 0)):
                    raise ValidationFailed(f"{path}: customer ids repeat or are out of order")
                last = int(ids[-1]) if len(ids) else last
                rows += len(ids)
    return rows


def validate_partition(
    input_uri: str, output_uri: str, day: str | Date, settings: Settings | None = None
) -> dict[str, Any]:
    """Judge the committed partition (what its manifest names): rows in == rows out == the
    manifest's count, no duplicate ids, every named file present. Files no manifest names
    (a killed run's orphans) are reported, not judged: no reader that follows the protocol
    sees them, and the next run removes them."""
    s = settings or get_settings()
    store = store_for(output_uri, s)
    part_uri = join(output_uri, partition_name(day))
    manifest = store.read_manifest(part_uri)
    if manifest is None:
        raise ValidationFailed(f"{part_uri} has no {partition_name(day)}/_SUCCESS: never committed")
    present = set(store.list_all(part_uri))
    missing = [name for name in manifest["files"] if name not in present]
    if missing:
        raise ValidationFailed(f"{part_uri}: files named by the manifest are missing: {missing}")
    rows_in = count_rows(input_uri, s)
    rows_out = _streamed_ids(store, store.list_parquet(part_uri), s.chunk_rows)
    problems = []
    if rows_out != rows_in:
        problems.append(f"rows out {rows_out} != rows in {rows_in}")
    if rows_out != manifest["rows"]:
        problems.append(f"rows out {rows_out} != manifest rows {manifest['rows']}")
    if problems:
        raise ValidationFailed(f"{part_uri}: " + "; ".join(problems))
    ignored = sorted(present - {*manifest["files"], "_SUCCESS"})
    return {
        "partition": part_uri,
        "rows_in": rows_in,
        "rows_out": rows_out,
        "files": len(manifest["files"]),
        "run_id": manifest.get("run_id"),
        "ignored_files": ignored,
    }
