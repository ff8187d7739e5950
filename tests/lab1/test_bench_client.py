"""The benchmark's own load generator against a real uvicorn of the lab: the raw-socket client
must read answers exactly (status, Server-Timing, keep-alive), and the overhead measurement
must give the same kind of figures whichever client drives it."""

from __future__ import annotations

import math

import pytest

from lab1_fastapi import bench

pytestmark = [pytest.mark.integration, pytest.mark.points(0)]


@pytest.fixture(scope="module")
def bench_url(start_server, trained_artifacts, tmp_path_factory):
    log = tmp_path_factory.mktemp("lab1-bench") / "uvicorn.log"
    with start_server(log, artifacts_dir=trained_artifacts, noop_endpoint=True) as (url, _):
        yield url


def test_raw_client_reads_status_and_server_timing_on_one_connection(bench_url):
    conn = bench.Conn(bench_url)
    try:
        status, timing = conn.send("POST", "/v2/churn/predict")
        sock = conn.sock
        assert status == 200
        names = {entry.split(";")[0] for value in timing for entry in value.split(",")}
        assert {"app", "model"} <= names, timing
        assert conn.send("GET", "/health")[0] == 200
        assert conn.send("POST", "/lab/batched/predict")[0] == 200
        assert conn.sock is sock, "keep-alive: all three requests on the first connection"
        assert conn.buffer == b"", "every answer read to its last byte, nothing left over"
        assert conn.send("GET", "/no/such/route")[0] == 404
    finally:
        conn.close()


def test_raw_client_reconnects_after_the_server_closed_the_connection(bench_url):
    conn = bench.Conn(bench_url)
    try:
        assert conn.send("GET", "/health")[0] == 200
        assert conn.sock is not None
        conn.sock.close()  # as if the server had dropped the idle connection
        with pytest.raises(OSError):
            conn.send("GET", "/health")
        assert conn.sock is None
        assert conn.send("GET", "/health")[0] == 200
    finally:
        conn.close()


def test_paired_overheads_split_served_time_for_every_client(bench_url):
    keys = [("/v2/churn/predict", client) for client in bench.CLIENTS]
    keys.append(("/lab/batched/predict", "raw"))
    rows = bench.paired_overheads(bench_url, keys, 20, rounds=2, warmup=5)
    assert [(r["route"], r["client"]) for r in rows] == keys
    for row in rows:
        for key in ("in_process_p50_ms", "served_p50_ms", "server_model_p50_ms"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
        assert row["served_p50_ms"] > row["server_model_p50_ms"], row
    # The batched route reports its queueing + shared call as "batch", read as the model time.
    assert math.isfinite(rows[-1]["framework_p50_ms"]), rows[-1]
