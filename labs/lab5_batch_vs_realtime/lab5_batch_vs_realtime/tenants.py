"""Per-tenant models loaded on first use from ``<tenants_dir>/<tenant>/<version>/``.

Each tenant folder is an artifacts root in the course layout (``name`` = tenant), so the shared
loader's sha256 and library-version checks apply. At most ``capacity`` models stay in memory
(least recently used evicted); a newer version folder is picked up on a later request.

Loading never blocks other tenants: the slow part (disk + unpickling) runs in a worker thread
under a lock *for that tenant only*; the registry-wide lock only guards dictionary updates.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_models.artifacts import LoadedArtifact, list_versions, load_artifact
from course_models.tasks import TaskNotImplemented  # noqa: F401 (the student edition's stub)
from lab5_batch_vs_realtime.scoring import model_of

TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_TENANT_RE = re.compile(TENANT_PATTERN)


class UnknownTenant(LookupError):
    pass


@dataclass
class TenantModel:
    tenant: str
    version: int
    schema_version: int
    model: Any
    loaded_at: float
    checked_at: float = field(default_factory=time.monotonic)


def schema_version_of(artifact: LoadedArtifact) -> int:
    """Feature-schema version of a model (a tenant's v3 may be a copy of churn v2)."""
    return int(artifact.metadata.get("schema_version", artifact.metadata["version"]))


class TenantRegistry:
    def __init__(
        self,
        root: Path,
        capacity: int = 4,
        check_seconds: float = 2.0,
        on_event: Callable[[str, str], None] | None = None,
    ):
        self.root = Path(root)
        self.capacity = capacity
        self.check_seconds = check_seconds
        self.on_event = on_event or (lambda event, tenant: None)
        self._models: OrderedDict[str, TenantModel] = OrderedDict()
        self._lock = threading.Lock()  # guards _models and _tenant_locks, held briefly
        self._tenant_locks: dict[str, asyncio.Lock] = {}

    # -- inspection ---------------------------------------------------------------------------
    def loaded(self) -> dict[str, int]:
        with self._lock:
            return {t: m.version for t, m in self._models.items()}

    def known(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if list_versions(p.name, self.root))

    def latest(self, tenant: str) -> int:
        if not _TENANT_RE.match(tenant):
            raise UnknownTenant(f"invalid tenant name {tenant!r}")
        versions = list_versions(tenant, self.root)
        if not versions:
            known = ", ".join(self.known()) or "none"
            raise UnknownTenant(
                f"unknown tenant {tenant!r}: no model under {self.root / tenant}/<version>/ "
                f"(known tenants: {known})"
            )
        return versions[-1]

    # -- use ------------------------------------------------------------------------------------
    # BEGIN TASK 5.2: per-tenant models loaded on first use, LRU-evicted, reloaded when newer
    async def get(self, tenant: str) -> TenantModel:
        """The tenant's newest model, loading or reloading it if needed."""
        cached = self._touch(tenant)
        if cached is not None and time.monotonic() - cached.checked_at < self.check_seconds:
            return cached
        latest = await asyncio.to_thread(self.latest, tenant)  # raises UnknownTenant first
        if cached is not None and cached.version >= latest:
            cached.checked_at = time.monotonic()
            return cached
        with self._lock:
            lock = self._tenant_locks.setdefault(tenant, asyncio.Lock())
        async with lock:  # one load per tenant at a time; other tenants carry on
            cached = self._touch(tenant)
            if cached is not None and cached.version >= latest:
                return cached
            model = await asyncio.to_thread(self._load, tenant, latest)
            self._insert(model, reloaded=cached is not None)
            return model

    def _load(self, tenant: str, version: int) -> TenantModel:
        art = load_artifact(tenant, version, self.root)
        return TenantModel(tenant, version, schema_version_of(art), model_of(art), time.time())

    def _touch(self, tenant: str) -> TenantModel | None:
        with self._lock:
            model = self._models.get(tenant)
            if model is not None:
                self._models.move_to_end(tenant)
            return model

    def _insert(self, model: TenantModel, reloaded: bool) -> None:
        evicted = []
        with self._lock:
            self._models[model.tenant] = model
            self._models.move_to_end(model.tenant)
            while len(self._models) > self.capacity:
                old, _ = self._models.popitem(last=False)
                evicted.append(old)
        self.on_event("reload" if reloaded else "load", model.tenant)
        for old in evicted:
            self.on_event("evict", old)

    # STUB
    # async def get(self, tenant: str) -> TenantModel:
    #     raise TaskNotImplemented("5.2", "the per-tenant LRU model loader")
    # END TASK 5.2


def publish_tenant_version(
    tenants_dir: Path,
    tenant: str,
    source_version: int,
    artifacts_dir: Path | None = None,
) -> int:
    """Copy ``churn/<source_version>`` in as the tenant's next version; returns that version.

    The copy is assembled in a hidden folder and renamed into place, so a registry polling the
    tenant never sees a half-written version. ``schema_version`` records which feature schema
    the copied model expects (the tenant's version numbers are its own).
    """
    import json
    import shutil
    import uuid

    from course_models.artifacts import METADATA_FILE, verify_artifact

    if not _TENANT_RE.match(tenant):
        raise ValueError(f"tenant names match {TENANT_PATTERN}, got {tenant!r}")
    src, meta = verify_artifact("churn", source_version, artifacts_dir)
    base = Path(tenants_dir) / tenant
    base.mkdir(parents=True, exist_ok=True)
    existing = list_versions(tenant, tenants_dir)
    version = (existing[-1] + 1) if existing else 1
    tmp = base / f".tmp-{uuid.uuid4().hex[:8]}"
    shutil.copytree(src, tmp)
    meta = {
        **meta,
        "name": tenant,
        "version": version,
        "schema_version": int(meta["version"]),
        "source": f"churn/{source_version}",
    }
    (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    tmp.rename(base / str(version))
    return version


DEMO_TENANTS = ("acme=1", "globex=2", "initech=2")


def publish_demo_tenants(settings: Any, pairs: list[str] | None = None) -> None:
    """Publish ``tenant=churn_version`` pairs (the demo set by default), one line each."""
    for pair in pairs or DEMO_TENANTS:
        tenant, _, source = pair.partition("=")
        v = publish_tenant_version(
            settings.tenants_dir, tenant, int(source or 2), settings.artifacts_dir
        )
        where = settings.tenants_dir
        print(f"tenant {tenant}: version {v} (copy of churn/{source or 2}) in {where}")
