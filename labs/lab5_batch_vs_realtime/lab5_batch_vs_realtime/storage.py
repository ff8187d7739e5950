"""Where batch inputs and outputs live: a local folder or an S3 bucket, behind one small API.

Both stores commit a partition in one step so that readers never see half of a run:

* local file system: write into ``<root>/_staging/...``, then ``rename`` it over the partition
  (a rename inside one file system is atomic);
* S3 has no rename, so the commit point is the ``_SUCCESS`` manifest: data files are uploaded
  under run-specific names first, the manifest naming them is written last, then the previous
  run's files are deleted. Readers go through the manifest (as Spark/Hive commit protocols do).

A rerun of the same date therefore *replaces* its partition: no duplicates, no partial output.
Names starting with ``_`` are ignored by pyarrow's dataset discovery, so staging never leaks.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "_SUCCESS"


def is_s3(uri: str) -> bool:
    return str(uri).startswith("s3://")


def join(uri: str, *parts: str) -> str:
    if is_s3(uri):
        return "/".join([str(uri).rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(uri, *parts))


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    rest = str(uri)[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} has no bucket name (expected s3://bucket/prefix)")
    return bucket, key.strip("/")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


class Storage:
    """The operations the pipeline needs; subclasses implement them for one kind of store."""

    def list_parquet(self, uri: str) -> list[str]:
        """Parquet files of a dataset folder: the manifest's list when committed, else a listing."""
        manifest = self.read_manifest(uri)
        if manifest is not None:
            return [join(uri, name) for name in manifest["files"]]
        return self._list_parquet(uri)

    def read_manifest(self, uri: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def fetch(self, uri: str) -> contextlib.AbstractContextManager[Path]:
        """A local path holding the file's bytes for the duration of the ``with`` block."""
        raise NotImplementedError

    def staging(self, root: str) -> contextlib.AbstractContextManager[Path]:
        """An empty local folder to write a partition into; removed if the block fails."""
        raise NotImplementedError

    def commit(self, root: str, partition: str, staged: Path, manifest: dict[str, Any]) -> str:
        """Make ``staged``'s Parquet files the partition's content in one step; returns its URI."""
        raise NotImplementedError

    def list_all(self, uri: str) -> list[str]:
        """Every file under ``uri`` (manifest or not): what a naive reader would pick up."""
        raise NotImplementedError

    def _list_parquet(self, uri: str) -> list[str]:
        raise NotImplementedError

    @staticmethod
    def _manifest(manifest: dict[str, Any], names: list[str]) -> dict[str, Any]:
        return {
            **manifest,
            "files": names,
            "committed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


class LocalStorage(Storage):
    def read_manifest(self, uri: str) -> dict[str, Any] | None:
        path = Path(uri) / MANIFEST
        return json.loads(path.read_text()) if path.is_file() else None

    def _list_parquet(self, uri: str) -> list[str]:
        path = Path(uri)
        if path.is_file():
            return [str(path)]
        if not path.is_dir():
            raise FileNotFoundError(f"input {uri} does not exist")
        return [
            str(p)
            for p in sorted(path.rglob("*.parquet"))
            if not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)
        ]

    def list_all(self, uri: str) -> list[str]:
        path = Path(uri)
        return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())

    @contextlib.contextmanager
    def fetch(self, uri: str) -> Iterator[Path]:
        yield Path(uri)

    @contextlib.contextmanager
    def staging(self, root: str) -> Iterator[Path]:
        # Same file system as the target, so the commit can be a rename.
        staged = Path(root) / "_staging" / new_run_id()
        staged.mkdir(parents=True)
        try:
            yield staged
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def commit(self, root: str, partition: str, staged: Path, manifest: dict[str, Any]) -> str:
        names = sorted(p.name for p in staged.glob("*.parquet"))
        body = self._manifest(manifest, names)
        (staged / MANIFEST).write_text(json.dumps(body, indent=2) + "\n")
        final = Path(root) / partition
        final.parent.mkdir(parents=True, exist_ok=True)
        trash = None
        if final.exists():
            trash = Path(root) / "_trash" / f"{partition}-{new_run_id()}"
            trash.parent.mkdir(parents=True, exist_ok=True)
            final.rename(trash)
        staged.rename(final)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return str(final)


class S3Storage(Storage):
    def __init__(self, client: Any):
        self.client = client

    def read_manifest(self, uri: str) -> dict[str, Any] | None:
        bucket, key = split_s3(join(uri, MANIFEST))
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    def _keys(self, uri: str) -> list[str]:
        bucket, prefix = split_s3(uri)
        prefix = f"{prefix}/" if prefix else ""
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            keys.extend(obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
        return sorted(keys)

    def _list_parquet(self, uri: str) -> list[str]:
        if str(uri).endswith(".parquet"):
            return [str(uri)]
        found = [
            join(uri, k)
            for k in self._keys(uri)
            if k.endswith(".parquet") and not any(p.startswith(("_", ".")) for p in k.split("/"))
        ]
        if not found:
            raise FileNotFoundError(f"no Parquet files under {uri}")
        return found

    def list_all(self, uri: str) -> list[str]:
        return self._keys(uri)

    @contextlib.contextmanager
    def fetch(self, uri: str) -> Iterator[Path]:
        # Parquet readers need to seek (the footer is at the end): download to a temp file.
        bucket, key = split_s3(uri)
        with tempfile.TemporaryDirectory(prefix="lab5-fetch-") as tmp:
            local = Path(tmp) / Path(key).name
            self.client.download_file(bucket, key, str(local))
            yield local

    @contextlib.contextmanager
    def staging(self, root: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="lab5-stage-") as tmp:
            yield Path(tmp)

    def commit(self, root: str, partition: str, staged: Path, manifest: dict[str, Any]) -> str:
        run_id = manifest.get("run_id") or new_run_id()
        final = join(root, partition)
        bucket, prefix = split_s3(final)
        names = []
        for path in sorted(staged.glob("*.parquet")):
            name = f"{run_id}-{path.name}"  # never overwrites what current readers use
            self.client.upload_file(str(path), bucket, f"{prefix}/{name}")
            names.append(name)
        body = self._manifest(manifest, names)
        self.client.put_object(
            Bucket=bucket,
            Key=f"{prefix}/{MANIFEST}",
            Body=json.dumps(body, indent=2).encode(),
            ContentType="application/json",
        )
        # The commit happened above; now drop what the previous run left behind.
        stale = [k for k in self._keys(final) if k != MANIFEST and k not in names]
        for start in range(0, len(stale), 1000):
            self.client.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": f"{prefix}/{k}"} for k in stale[start : start + 1000]]},
            )
        return final


def s3_client(settings: Any):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
    )


def storage_for(uri: str, settings: Any = None) -> Storage:
    """A local store for paths, an S3 store (endpoint from settings) for ``s3://`` URIs."""
    if not is_s3(uri):
        return LocalStorage()
    if settings is None:
        from lab5_batch_vs_realtime.settings import get_settings

        settings = get_settings()
    return S3Storage(s3_client(settings))
