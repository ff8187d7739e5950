"""Graded specifications of lab 5's tasks, through the public surface only: HTTP (``LAB5_URL``
or the submission's own service), the batch CLI and the files it writes, the DAG via
``dag.test()`` (in test_dag.py). A correct implementation with other internals scores the same."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pyarrow.parquet as pq
import pytest

from course_models.artifacts import load_artifact
from course_models.datasets import write_churn_parquet
from course_models.tabular import example_record, predict_proba
from lab5_batch_vs_realtime.tenants import publish_tenant_version

DAY = "2026-11-24"


def body(entity: str) -> dict:
    return {"entity_id": entity, "features": example_record(2)}


# --- Task 5.1: sticky A/B routing plus the version header -------------------------------------


@pytest.mark.task("5.1")
@pytest.mark.points(3)
def test_ab_split_follows_the_weights_and_is_sticky(lab5_service):
    ids = [f"grader-{i}" for i in range(400)]
    with lab5_service.client() as http:
        first = {}
        for entity in ids:
            r = http.post("/predict", json=body(entity))
            assert r.status_code == 200, r.text
            assert r.headers["X-Model-Route"] == "ab" and r.json()["route"] == "ab"
            assert r.headers["X-Model-Version"] == str(r.json()["model_version"])
            first[entity] = r.json()["model_version"]
        share_v2 = sum(v == 2 for v in first.values()) / len(ids)
        assert 0.4 <= share_v2 <= 0.6, f"weights 50/50, v2 got {share_v2:.0%}"  # ±4 sd
        for entity in reversed(ids[:60]):  # sticky, whatever the order of requests
            assert http.post("/predict", json=body(entity)).json()["model_version"] == first[entity]


@pytest.mark.task("5.1")
@pytest.mark.points(3)
def test_version_header_pins_the_version(lab5_service):
    with lab5_service.client() as http:
        for version in (1, 2):
            for i in range(10):
                r = http.post(
                    "/predict", json=body(f"pin-{i}"), headers={"X-Model-Version": str(version)}
                )
                assert r.status_code == 200, r.text
                assert r.headers["X-Model-Version"] == str(version)
                assert r.headers["X-Model-Route"] == "header" and r.json()["route"] == "header"


@pytest.mark.task("5.1")
@pytest.mark.points(1)
@pytest.mark.parametrize(("header", "status"), [("7", 404), ("0", 404), ("two", 422)])
def test_unknown_version_header_is_a_clear_4xx(lab5_service, header, status):
    with lab5_service.client() as http:
        r = http.post("/predict", json=body("x"), headers={"X-Model-Version": header})
    assert r.status_code == status and r.headers["content-type"].startswith("application/json")
    assert header in str(r.json()["detail"])
    if status == 404:
        assert r.json()["available"] == [1, 2]


# --- Task 5.2: the per-tenant LRU loader --------------------------------------------------


def _loaded(http) -> dict:
    return http.get("/models").json()["tenants_loaded"]


@pytest.mark.task("5.2")
@pytest.mark.points(3)
def test_tenant_model_loads_on_first_use_and_answers_with_its_own_model(lab5_service):
    with lab5_service.client() as http:
        r = http.post("/tenants/acme/predict", json=body("t1"))  # acme is a copy of churn v1
        assert r.status_code == 200, r.text
        assert r.headers["X-Tenant"] == "acme" and r.headers["X-Model-Route"] == "tenant"
        assert r.json()["tenant"] == "acme" and "acme" in _loaded(http)
        v1 = http.post("/predict", json=body("t1"), headers={"X-Model-Version": "1"}).json()
        assert r.json()["churn_probability"] == v1["churn_probability"]


@pytest.mark.task("5.2")
@pytest.mark.points(3)
def test_least_recently_used_tenant_is_evicted(lab5_service):
    """The service keeps 2 tenant models: after a, b, a, c the least recently used (b) goes."""
    tag = uuid.uuid4().hex[:6]
    a, b, c = (f"lru-{tag}-{x}" for x in "abc")
    for tenant in (a, b, c):
        publish_tenant_version(lab5_service.tenants_dir, tenant, 2)
    with lab5_service.client() as http:
        for tenant in (a, b, a, c):
            assert http.post(f"/tenants/{tenant}/predict", json=body("u")).status_code == 200
        loaded = _loaded(http)
        assert a in loaded and c in loaded and b not in loaded, loaded
        metrics = http.get("/metrics").text
        assert f'lab5_tenant_model_events_total{{event="evict",tenant="{b}"}} 1.0' in metrics


@pytest.mark.task("5.2")
@pytest.mark.points(1)
def test_a_newer_tenant_version_is_served_without_a_restart(lab5_service):
    tenant = f"fresh-{uuid.uuid4().hex[:6]}"
    publish_tenant_version(lab5_service.tenants_dir, tenant, 1)
    with lab5_service.client() as http:
        assert http.post(f"/tenants/{tenant}/predict", json=body("u")).json()["model_version"] == 1
        publish_tenant_version(lab5_service.tenants_dir, tenant, 2)
        r = http.post(f"/tenants/{tenant}/predict", json=body("u"))
        assert r.headers["X-Model-Version"] == "2" and r.json()["model_version"] == 2


@pytest.mark.task("5.2")
@pytest.mark.points(1)
def test_unknown_tenant_is_404_naming_the_known_ones(lab5_service):
    with lab5_service.client() as http:
        r = http.post("/tenants/nosuch/predict", json=body("u"))
    assert r.status_code == 404
    assert "nosuch" in r.json()["detail"] and "acme" in r.json()["detail"]


# --- Task 5.3: chunked batch scoring ------------------------------------------------------


def batch_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "lab5_batch_vs_realtime", "batch", "--no-progress", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.task("5.3")
@pytest.mark.points(4)
def test_batch_cli_scores_every_row_in_order_with_the_models_numbers(tmp_path, lab5_settings):
    src = tmp_path / "raw"
    write_churn_parquet(src, 5000, rows_per_file=2000)  # three input files
    out = tmp_path / "out"
    done = batch_cli("--input", str(src), "--output", str(out), "--date", DAY, "--version", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rows in 5,000" in done.stdout and "rows out 5,000" in done.stdout
    part = out / f"date={DAY}"
    scored = pq.read_table(part).to_pandas()
    assert list(scored.columns[:3]) == ["customer_id", "churn_probability", "model_version"]
    assert scored["customer_id"].tolist() == list(range(5000))
    assert set(scored["model_version"]) == {2}
    frame = pq.read_table(src).to_pandas()
    want = predict_proba(load_artifact("churn", 2).model, frame, 2)
    assert (scored["churn_probability"].to_numpy() == want).all()


@pytest.mark.task("5.3")
@pytest.mark.points(3)
def test_batch_output_is_written_in_bounded_pieces(tmp_path, lab5_settings):
    """Settings: LAB5_CHUNK_ROWS=1000, LAB5_ROWS_PER_FILE=2500 (documented in the README)."""
    src = tmp_path / "raw"
    write_churn_parquet(src, 6000, rows_per_file=6000)
    out = tmp_path / "out"
    done = batch_cli("--input", str(src), "--output", str(out), "--date", DAY)
    assert done.returncode == 0, done.stderr[-3000:]
    part = out / f"date={DAY}"
    manifest = json.loads((part / "_SUCCESS").read_text())
    sizes = [pq.ParquetFile(part / name).metadata.num_rows for name in manifest["files"]]
    assert sum(sizes) == 6000 and max(sizes) <= 2500 and len(sizes) == 3, sizes
    groups = [
        pq.ParquetFile(part / n).metadata.row_group(i).num_rows
        for n in manifest["files"]
        for i in range(pq.ParquetFile(part / n).metadata.num_row_groups)
    ]
    assert max(groups) <= 1000, groups


# --- Task 5.4: the atomic partition commit ------------------------------------------------


@pytest.mark.task("5.4")
@pytest.mark.points(2)
def test_rerun_replaces_the_partition_without_duplicates(tmp_path, lab5_settings):
    src = tmp_path / "raw"
    write_churn_parquet(src, 3000, rows_per_file=3000)
    out = tmp_path / "out"
    args = ("--input", str(src), "--output", str(out), "--date", DAY)
    runs = []
    for _ in range(2):
        assert batch_cli(*args).returncode == 0
        runs.append(json.loads((out / f"date={DAY}" / "_SUCCESS").read_text())["run_id"])
    ids = pq.read_table(out / f"date={DAY}", columns=["customer_id"]).column(0).to_pylist()
    assert len(ids) == len(set(ids)) == 3000 and runs[0] != runs[1]


@pytest.mark.task("5.4")
@pytest.mark.points(2)
def test_a_failing_run_commits_nothing(tmp_path, lab5_settings):
    src = tmp_path / "raw"
    write_churn_parquet(src, 3000, rows_per_file=3000)
    out = tmp_path / "out"
    args = ("--input", str(src), "--output", str(out), "--date", DAY)
    assert batch_cli(*args).returncode == 0
    before = (out / f"date={DAY}" / "_SUCCESS").read_text()
    crashed = batch_cli(*args, "--fail-after-chunks", "2")
    assert crashed.returncode != 0
    assert (out / f"date={DAY}" / "_SUCCESS").read_text() == before
    assert pq.read_table(out / f"date={DAY}").num_rows == 3000
