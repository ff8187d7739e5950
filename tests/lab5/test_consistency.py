"""One model, two modes: the batch output equals the real-time answers, to the last bit."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from course_models import procs
from course_models.schema import ID_COLUMN, feature_names
from lab5_batch_vs_realtime.batch import land_day, partition_name, run_batch
from lab5_batch_vs_realtime.service import create_app
from lab5_batch_vs_realtime.stack import serve_command

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

DAY = "2026-11-24"


def _as_json(row: dict, version: int) -> dict:
    """A Parquet row as a client would send it: plain JSON types, missing score -> null."""
    out = {}
    for name in feature_names(version):
        value = row[name]
        if isinstance(value, float) and math.isnan(value):
            value = None
        out[name] = value
    return out


@pytest.mark.points(0)
@pytest.mark.parametrize("version", [1, 2])
def test_batch_output_equals_realtime_responses(lab5_settings, version):
    s = lab5_settings
    landed = land_day(DAY, s)
    run_batch(landed["input"], s.output_uri, DAY, version=version, settings=s)
    scored = pq.read_table(Path(s.output_uri) / partition_name(DAY)).to_pandas()
    rows = pq.read_table(landed["input"]).to_pandas()
    sample = rows.sample(150, random_state=version).to_dict(orient="records")
    expected = dict(zip(scored[ID_COLUMN], scored["churn_probability"], strict=True))
    assert any(r["satisfaction_score"] != r["satisfaction_score"] for r in sample)  # has NaNs
    with TestClient(create_app(s)) as client:
        for row in sample:
            r = client.post(
                "/predict",
                json={"entity_id": str(row[ID_COLUMN]), "features": _as_json(row, 2)},
                headers={"X-Model-Version": str(version)},
            )
            assert r.status_code == 200, r.text
            got = r.json()["churn_probability"]
            assert got == expected[row[ID_COLUMN]], (row[ID_COLUMN], got)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.points(0)
def test_cli_serves_over_real_http_and_agrees_with_batch(lab5_settings, tmp_path):
    s = lab5_settings
    landed = land_day(DAY, s, rows=50)
    run_batch(landed["input"], s.output_uri, DAY, version=2, settings=s)
    scored = pq.read_table(Path(s.output_uri) / partition_name(DAY)).to_pandas()
    rows = pq.read_table(landed["input"]).to_pandas().head(20).to_dict(orient="records")
    port = procs.free_port()
    with procs.running(serve_command(port), log=tmp_path / "serve.log") as proc:
        base = f"http://127.0.0.1:{port}"
        try:
            procs.wait_http(f"{base}/ready", timeout=60, proc=proc)
        except Exception:
            print(procs.tail(tmp_path / "serve.log"))
            raise
        with httpx.Client(base_url=base, timeout=10) as http:
            for row, want in zip(rows, scored["churn_probability"].head(20), strict=True):
                r = http.post(
                    "/predict",
                    json={"entity_id": str(row[ID_COLUMN]), "features": _as_json(row, 2)},
                    headers={"X-Model-Version": "2"},
                )
                assert r.status_code == 200 and r.json()["churn_probability"] == want
            assert 'version="2"' in http.get("/metrics").text
