"""Kill drills: a batch run SIGKILLed mid-write (local and against a real moto S3 server), and
peak memory that does not grow with the input. Each injects the fault for real and waits on the
run's own log line, never on a sleep."""

from __future__ import annotations

import glob
import re
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from course_models import procs
from lab5_batch_vs_realtime.batch import land_day, partition_name, run_batch, validate_partition
from lab5_batch_vs_realtime.storage import MANIFEST, STAGING, store_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
DAY = "2026-11-24"
PAUSED = "lab5 drill: paused"


def kill_when_paused(args: list[str], log: Path) -> None:
    """Run the batch CLI until it reports the drill's pause, then SIGKILL it."""
    cmd = [sys.executable, "-m", "lab5_batch_vs_realtime", "batch", "--no-progress", *args]
    proc = procs.start(cmd, log=log)
    try:
        procs.wait_until(
            lambda: proc.poll() is None and PAUSED in log.read_text(), timeout=240, what=str(log)
        )
        assert proc.poll() is None, procs.tail(log)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.task("5.4")
@pytest.mark.points(2)
def test_sigkill_before_commit_leaves_the_partition_intact_and_debris_is_cleaned(
    lab5_settings, tmp_path
):
    s = lab5_settings
    landed = land_day(DAY, s)
    good = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    kill_when_paused(["--date", DAY, "--drill", "before-commit"], tmp_path / "killed.log")
    part = Path(s.output_uri) / partition_name(DAY)
    staging = Path(s.output_uri) / STAGING / partition_name(DAY)
    assert list(staging.rglob("*.parquet")), "the killed run had staged files"
    assert store_for(str(part)).read_manifest(str(part))["run_id"] == good["run_id"]
    assert pq.read_table(part).num_rows == 3000, "a reader sees the previous partition whole"
    assert validate_partition(landed["input"], s.output_uri, DAY, s)["run_id"] == good["run_id"]
    again = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    assert again["debris_removed"]["staging_files"] >= 1
    assert (
        not staging.exists() and not (Path(s.output_uri) / "_trash" / partition_name(DAY)).exists()
    )
    assert validate_partition(landed["input"], s.output_uri, DAY, s)["rows_out"] == 3000


@pytest.mark.task("5.4")
@pytest.mark.points(2)
def test_sigkill_during_s3_commit_orphans_stay_out_of_readers_way(s3_settings, tmp_path):
    s = s3_settings
    tmp_before = set(glob.glob("/tmp/lab5-stage-*"))
    landed = land_day(DAY, s)
    good = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    kill_when_paused(["--date", DAY, "--drill", "in-commit"], tmp_path / "killed.log")
    store = store_for(s.output_uri, s)
    part = f"{s.output_uri}/{partition_name(DAY)}"
    manifest = store.read_manifest(part)
    assert manifest["run_id"] == good["run_id"]
    orphans = [k for k in store.list_all(part) if k not in {*manifest["files"], MANIFEST}]
    assert orphans, "the killed run placed a file in the partition before its commit point"
    report = validate_partition(landed["input"], s.output_uri, DAY, s)
    assert report["rows_out"] == 3000 and report["ignored_files"] == orphans
    ids = [
        i
        for path in store.list_parquet(part)  # a reader that follows the manifest
        for i in pq.read_table(path, filesystem=store.fs).column("customer_id").to_pylist()
    ]
    assert len(ids) == len(set(ids)) == 3000
    again = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    assert again["debris_removed"]["orphans"] == len(orphans)
    after = store.read_manifest(part)
    assert sorted(store.list_all(part)) == sorted([*after["files"], MANIFEST])
    assert store.list_all(f"{s.output_uri}/{STAGING}") == []
    assert set(glob.glob("/tmp/lab5-stage-*")) == tmp_before, "S3 runs stage in S3, not /tmp"


def peak_rss_mb(args: list[str], log: Path) -> float:
    """Peak RSS of the batch CLI as it reports it: the kernel's ``VmHWM`` of its own process
    (exact, not sampled). Not ``ru_maxrss`` from ``wait4``: a spawned child inherits its
    parent's peak there, so with a big pytest parent both runs would read the same number."""
    cmd = [sys.executable, "-m", "lab5_batch_vs_realtime", "batch", "--no-progress", *args]
    with log.open("w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    assert done.returncode == 0, procs.tail(log)
    found = re.search(r"peak RSS ([0-9]+) MB", log.read_text())
    assert found, procs.tail(log)
    return float(found.group(1))


@pytest.mark.slow
@pytest.mark.points(0)
def test_batch_peak_memory_does_not_grow_with_the_input(lab5_settings, tmp_path, monkeypatch):
    """15x the rows (20,000 -> 300,000, chunks of 10,000) may add at most 12 MB of peak RSS
    (measured: +1 MB). Holding the input (Arrow or pandas: 97 MB per million rows) would add
    about 27 MB; a writer queue holding the output (20 B a row, plus its Arrow buffers) or an
    allocator that keeps every chunk's pages grows with the rows as well."""
    monkeypatch.setenv("LAB5_CHUNK_ROWS", "10000")
    monkeypatch.setenv("LAB5_ROWS_PER_FILE", "50000")
    peaks = {}
    for rows in (20_000, 300_000):
        s = lab5_settings.model_copy(
            update={"input_uri": str(tmp_path / f"in-{rows}"), "rows_per_day": rows}
        )
        landed = land_day(DAY, s)
        out = str(tmp_path / f"out-{rows}")
        args = ["--input", landed["input"], "--output", out, "--date", DAY]
        peaks[rows] = peak_rss_mb(args, tmp_path / f"batch-{rows}.log")
    assert peaks[300_000] - peaks[20_000] <= 12, peaks
