"""The same pipeline against a real S3 API (moto_server over HTTP on a free port)."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from lab5_batch_vs_realtime.batch import (
    InjectedFailure,
    land_day,
    partition_name,
    run_batch,
    validate_partition,
)
from lab5_batch_vs_realtime.storage import MANIFEST, split_s3

pytestmark = [pytest.mark.integration, pytest.mark.points(0)]
DAY = "2026-11-24"


def s3_client(s):
    """boto3, an independent reader of what the lab's pyarrow S3 client wrote."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s.s3_endpoint_url,
        region_name=s.s3_region,
        aws_access_key_id=s.s3_access_key_id,
        aws_secret_access_key=s.s3_secret_access_key,
    )


def _objects(s, uri: str) -> list[str]:
    bucket, prefix = split_s3(uri)
    resp = s3_client(s).list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    keys = (o["Key"][len(prefix) + 1 :] for o in resp.get("Contents", []))
    # pyarrow keeps zero-byte "folder/" marker objects (S3 has no folders): not data
    return sorted(k for k in keys if k and not k.endswith("/"))


def _read_ids(s, part_uri: str) -> list[int]:
    client = s3_client(s)
    bucket, prefix = split_s3(part_uri)
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=f"{prefix}/{MANIFEST}")["Body"].read()
    )
    ids: list[int] = []
    for name in manifest["files"]:
        body = client.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read()
        ids += pq.read_table(io.BytesIO(body), columns=["customer_id"]).column(0).to_pylist()
    return ids


def test_land_score_validate_on_s3(s3_settings):
    s = s3_settings
    landed = land_day(DAY, s)
    assert landed["input"] == f"{s.input_uri}/{partition_name(DAY)}"
    summary = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    assert summary["rows_in"] == summary["rows_out"] == 3000
    part = f"{s.output_uri}/{partition_name(DAY)}"
    keys = _objects(s, part)
    assert MANIFEST in keys and len(keys) == 3  # manifest + two files (rows_per_file=2500)
    assert validate_partition(landed["input"], s.output_uri, DAY, s)["rows_out"] == 3000
    assert sorted(_read_ids(s, part)) == list(
        range(landed["start_row"], landed["start_row"] + 3000)
    )


def test_s3_rerun_replaces_files_and_a_crash_commits_nothing(s3_settings):
    s = s3_settings
    landed = land_day(DAY, s)
    first = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    part = f"{s.output_uri}/{partition_name(DAY)}"
    before = _objects(s, part)
    with pytest.raises(InjectedFailure):
        run_batch(landed["input"], s.output_uri, DAY, settings=s, fail_after_chunks=1)
    assert _objects(s, part) == before, "a crashed run must not touch the committed partition"
    second = run_batch(landed["input"], s.output_uri, DAY, settings=s)
    after = _objects(s, part)
    assert len(after) == len(before) and set(after).isdisjoint(set(before) - {MANIFEST})
    assert all(k == MANIFEST or k.startswith(second["run_id"]) for k in after)
    assert _objects(s, f"{s.output_uri}/_staging") == [], "staging is removed after the commit"
    assert first["run_id"] != second["run_id"]
    ids = _read_ids(s, part)
    assert len(ids) == len(set(ids)) == 3000
