"""Where batch inputs and outputs live: a local folder or an S3 bucket, through ``pyarrow.fs``.

Both stores commit a partition in one step so that readers never see half of a run:

* local file system: write into ``<root>/_staging/<partition>/<run>/``, then ``rename`` it over
  the partition (a rename inside one file system is atomic);
* S3 has no rename, so the commit point is the ``_SUCCESS`` manifest: the run writes into the
  same kind of staging prefix, copies its files into the partition under run-specific names
  (server-side copies), writes the manifest naming them last, then deletes what the manifest
  does not name. Readers go through the manifest (as Spark/Hive commit protocols do).

A run killed at any point leaves at most staging files and, on S3, objects no manifest names:
the next run of the same partition removes both before it starts (``Partition.clean_debris``),
and the commit removes them again after. Names starting with ``_`` are ignored by pyarrow's (and
Spark's) dataset discovery, so staging never leaks into a folder-level read. One run per
partition at a time is assumed (the DAG's ``max_active_runs=1``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs

from course_models.tasks import TaskNotImplemented  # noqa: F401 (the student edition's stub)

MANIFEST = "_SUCCESS"
STAGING = "_staging"
TRASH = "_trash"
_PART_NUMBER = re.compile(r"(\d+)\.parquet$")


def is_s3(uri: str) -> bool:
    return str(uri).startswith("s3://")


def join(uri: str, *parts: str) -> str:
    return "/".join([str(uri).rstrip("/"), *(p.strip("/") for p in parts)])


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    rest = str(uri)[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} has no bucket name (expected s3://bucket/prefix)")
    return bucket, key.strip("/")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def part_order(name: str) -> tuple[int, str]:
    """``part-10.parquet`` after ``part-9.parquet`` (``pyarrow.dataset`` numbers files 0, 1...)."""
    match = _PART_NUMBER.search(name)
    return (int(match[1]) if match else -1, name)


def s3_filesystem(settings: Any) -> pafs.S3FileSystem:
    """pyarrow's own S3 client: seekable ranged reads, multipart writes, no temp files."""
    kwargs: dict[str, Any] = {"region": settings.s3_region}
    if settings.s3_endpoint_url:
        scheme, _, host = settings.s3_endpoint_url.partition("://")
        kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
    if settings.s3_access_key_id:
        kwargs.update(
            access_key=settings.s3_access_key_id, secret_key=settings.s3_secret_access_key
        )
    return pafs.S3FileSystem(**kwargs)


def _hidden(relative: str) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


@dataclass(frozen=True)
class Store:
    """A file system plus the URI scheme it was opened for (paths are fs paths, no scheme)."""

    fs: pafs.FileSystem
    s3: bool

    def path(self, uri: str) -> str:
        if self.s3:
            bucket, key = split_s3(uri)
            return f"{bucket}/{key}".rstrip("/")
        return str(uri).rstrip("/") or "/"

    def uri(self, path: str) -> str:
        return f"s3://{path}" if self.s3 else path

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def read_manifest(self, uri: str) -> dict[str, Any] | None:
        path = join(self.path(uri), MANIFEST)
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with self.fs.open_input_stream(path) as f:
            return json.loads(f.read())

    def write_json(self, path: str, body: dict[str, Any]) -> None:
        with self.fs.open_output_stream(path) as f:
            f.write((json.dumps(body, indent=2) + "\n").encode())

    def list_all(self, uri: str) -> list[str]:
        """Every file under ``uri`` (manifest or not), relative: what a naive reader would see."""
        base = self.path(uri)
        if not self.exists(base):
            return []
        selector = pafs.FileSelector(base, recursive=True)
        return sorted(
            i.path[len(base) + 1 :]
            for i in self.fs.get_file_info(selector)
            if i.type == pafs.FileType.File
        )

    def list_parquet(self, uri: str) -> list[str]:
        """Parquet files (fs paths) of a dataset: the manifest's list when committed, else every
        visible ``*.parquet`` below it; a single file is itself."""
        base = self.path(uri)
        manifest = self.read_manifest(uri)
        if manifest is not None:
            return [join(base, name) for name in manifest["files"]]
        info = self.fs.get_file_info(base)
        if info.type == pafs.FileType.File:
            return [base]
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(f"input {uri} does not exist")
        found = [
            join(base, rel)
            for rel in self.list_all(uri)
            if rel.endswith(".parquet") and not _hidden(rel)
        ]
        if not found:
            raise FileNotFoundError(f"no Parquet files under {uri}")
        return sorted(found, key=part_order)

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            self.fs.delete_file(path)

    def delete_dir(self, path: str) -> None:
        if self.exists(path):
            self.fs.delete_dir(path)


def store_for(uri: str, settings: Any = None) -> Store:
    """A local store for paths, an S3 store (endpoint from settings) for ``s3://`` URIs."""
    if not is_s3(uri):
        return Store(pafs.LocalFileSystem(), s3=False)
    if settings is None:
        from lab5_batch_vs_realtime.settings import get_settings

        settings = get_settings()
    return Store(s3_filesystem(settings), s3=True)


@dataclass(frozen=True)
class Partition:
    """One partition of a dataset root, and the staging folder a run writes it in."""

    store: Store
    root: str  # URI
    name: str  # e.g. "date=2026-11-24"
    run_id: str

    @property
    def final(self) -> str:
        return join(self.store.path(self.root), self.name)

    @property
    def staging_parent(self) -> str:
        return join(self.store.path(self.root), STAGING, self.name)

    @property
    def staging(self) -> str:
        return join(self.staging_parent, self.run_id)

    # BEGIN TASK 5.4: atomic partition commit (local rename, S3 manifest) and debris clean-up
    def clean_debris(self) -> dict[str, int]:
        """What earlier, killed runs of this partition left: staging folders, trash, and on S3
        objects in the partition that its manifest does not name."""
        removed = {"staging_files": 0, "orphans": 0}
        parent = self.staging_parent
        if self.store.exists(parent):
            removed["staging_files"] = len(self.store.list_all(self.store.uri(parent)))
            self.store.fs.delete_dir(parent)
        self.store.delete_dir(join(self.store.path(self.root), TRASH, self.name))
        orphans = self.orphans()
        self.store.delete([join(self.final, k) for k in orphans])
        removed["orphans"] = len(orphans)
        return removed

    def orphans(self) -> list[str]:
        """Files in the partition that no committed manifest names (none while it is missing)."""
        manifest = self.store.read_manifest(self.store.uri(self.final))
        if manifest is None:
            return []
        keep = {*manifest["files"], MANIFEST}
        return [k for k in self.store.list_all(self.store.uri(self.final)) if k not in keep]

    def commit(
        self, names: list[str], manifest: dict[str, Any], on_placed: Callable | None = None
    ) -> str:
        """Make the staged files (``names``, in order) the partition's content in one step.

        ``on_placed(name)`` is called after each file is placed in the partition before the
        commit point (S3 only): the kill drills use it to stop a run exactly there."""
        body = {
            **manifest,
            "run_id": self.run_id,
            "files": names,
            "committed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if self.store.s3:
            return self._commit_s3(names, body, on_placed or (lambda name: None))
        return self._commit_local(body)

    def _commit_local(self, body: dict[str, Any]) -> str:
        fs = self.store.fs
        self.store.write_json(join(self.staging, MANIFEST), body)
        trash_parent = join(self.store.path(self.root), TRASH, self.name)
        if self.store.exists(self.final):
            fs.create_dir(trash_parent)
            fs.move(self.final, join(trash_parent, self.run_id))
        fs.move(self.staging, self.final)
        self.store.delete_dir(trash_parent)
        self.store.delete_dir(self.staging_parent)
        return self.final

    def _commit_s3(self, names: list[str], body: dict[str, Any], on_placed: Callable) -> str:
        fs = self.store.fs
        final_names = [f"{self.run_id}-{n}" for n in names]  # never overwrites what readers use
        for src, dst in zip(names, final_names, strict=True):
            fs.copy_file(join(self.staging, src), join(self.final, dst))
            on_placed(dst)
        body["files"] = final_names
        self.store.write_json(join(self.final, MANIFEST), body)  # the commit point
        self.store.delete([join(self.final, k) for k in self.orphans()])  # the previous run's
        self.store.delete_dir(self.staging)
        return self.store.uri(self.final)

    # STUB
    # def clean_debris(self) -> dict[str, int]:
    #     return {"staging_files": 0, "orphans": 0}
    #
    # def commit(self, names: list[str], manifest: dict[str, Any], on_placed=None) -> str:
    #     raise TaskNotImplemented("5.4", "the atomic partition commit (local rename, S3 manifest)")
    # END TASK 5.4
