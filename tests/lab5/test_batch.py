"""The batch pipeline on the local file system: chunked, committed, idempotent, crash-safe.
Reference-implementation checks (0 points; the graded specifications are in test_tasks.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from course_models.datasets import write_churn_parquet
from lab5_batch_vs_realtime.batch import (
    InjectedFailure,
    ValidationFailed,
    land_day,
    partition_name,
    run_batch,
    validate_partition,
)
from lab5_batch_vs_realtime.storage import join, store_for

pytestmark = pytest.mark.points(0)

DAY = "2026-11-24"


def _ids(partition: Path) -> list[int]:
    return pq.read_table(partition, columns=["customer_id"]).column(0).to_pylist()


def test_cli_scores_a_parquet_folder_in_chunks_with_a_summary(tmp_path, lab5_settings):
    src = tmp_path / "raw"
    write_churn_parquet(src, 5000, rows_per_file=2000)  # three input files
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab5_batch_vs_realtime",
            "batch",
            "--input",
            str(src),
            "--output",
            str(out),
            "--date",
            DAY,
            "--chunk-rows",
            "700",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rows in 5,000" in done.stdout and "rows out 5,000" in done.stdout
    assert "rows/s" in done.stdout
    part = out / partition_name(DAY)
    manifest = json.loads((part / "_SUCCESS").read_text())
    assert manifest["rows"] == 5000 and manifest["model_version"] == 2
    # rows_per_file=2500 in the test settings: output rolls over to a second file.
    assert manifest["files"] == ["part-0.parquet", "part-1.parquet"]
    table = pq.read_table(part)
    assert table.column_names[:3] == ["customer_id", "churn_probability", "model_version"]
    assert _ids(part) == list(range(5000))


def test_reads_in_bounded_chunks(tmp_path, lab5_settings):
    src = tmp_path / "raw"
    write_churn_parquet(src, 4500, rows_per_file=4500)
    summary = run_batch(str(src), str(tmp_path / "out"), DAY, version=1, settings=lab5_settings)
    # chunk_rows=1000: never more than 1000 rows in memory at once, 5 chunks for 4500 rows.
    assert summary["chunks"] == 5
    assert summary["rows_in"] == summary["rows_out"] == 4500


def test_rerun_of_a_date_replaces_its_partition(lab5_settings):
    s = lab5_settings
    landed = land_day(DAY, s)
    first = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    second = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    part = Path(s.output_uri) / partition_name(DAY)
    ids = _ids(part)
    assert first["rows_out"] == second["rows_out"] == landed["rows"] == 3000
    assert len(ids) == len(set(ids)) == 3000, "a rerun must not duplicate rows"
    manifest = store_for(".").read_manifest(str(part))
    assert manifest["run_id"] == second["run_id"] != first["run_id"]
    assert validate_partition(landed["input"], s.output_uri, DAY, s)["rows_out"] == 3000
    # Landing is idempotent too: same date, same customers.
    again = land_day(DAY, s)
    assert again["start_row"] == landed["start_row"]
    assert validate_partition(again["input"], s.output_uri, DAY, s)["rows_in"] == 3000


def test_crash_mid_run_leaves_previous_output_untouched_and_retry_succeeds(lab5_settings):
    s = lab5_settings
    landed = land_day(DAY, s)
    good = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    with pytest.raises(InjectedFailure):
        run_batch(landed["input"], s.output_uri, DAY, settings=s, fail_after_chunks=2)
    part = Path(s.output_uri) / partition_name(DAY)
    assert store_for(".").read_manifest(str(part))["run_id"] == good["run_id"]
    assert len(_ids(part)) == 3000, "the crashed run must not be visible"
    staging = Path(s.output_uri) / "_staging" / partition_name(DAY)
    assert not list(staging.rglob("*.parquet")), "a failing run removes its own staging"
    retry = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    assert retry["rows_out"] == 3000 and len(set(_ids(part))) == 3000
    assert not staging.exists()


def test_validation_catches_a_partition_that_does_not_match_its_input(lab5_settings, tmp_path):
    s = lab5_settings
    landed = land_day(DAY, s)
    run_batch(landed["input"], s.output_uri, DAY, settings=s)
    other_day = land_day("2026-11-25", s, rows=10)
    with pytest.raises(ValidationFailed, match="rows out 3000 != rows in 10"):
        validate_partition(other_day["input"], s.output_uri, DAY, s)
    with pytest.raises(ValidationFailed, match="never committed"):
        validate_partition(landed["input"], s.output_uri, "2026-01-01", s)
    # a stray file (a writer that bypassed the commit) is reported, not judged: readers that
    # follow the manifest never see it
    (Path(s.output_uri) / partition_name(DAY) / "stray.parquet").write_bytes(b"x")
    report = validate_partition(landed["input"], s.output_uri, DAY, s)
    assert report["ignored_files"] == ["stray.parquet"] and report["rows_out"] == 3000
    # a file the manifest names but that is gone fails
    (Path(s.output_uri) / partition_name(DAY) / "part-0.parquet").unlink()
    with pytest.raises(ValidationFailed, match="missing"):
        validate_partition(landed["input"], s.output_uri, DAY, s)


def test_days_map_to_distinct_deterministic_rows(lab5_settings):
    s = lab5_settings
    a = land_day("2026-11-24", s, rows=100)
    b = land_day("2026-11-25", s, rows=100)
    assert b["start_row"] - a["start_row"] == s.rows_per_day
    assert pq.read_table(join(a["input"], "part-0.parquet")).num_rows == 100
