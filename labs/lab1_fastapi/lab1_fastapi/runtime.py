"""What the lifespan builds and tears down (models, micro-batchers, metrics), and how routes
reach it: ``RuntimeDep`` reads it from ``app.state`` (the full-stack FastAPI template's style),
so endpoints declare what they need instead of closing over globals.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import Depends, Request, Response

from lab1_fastapi import schemas
from lab1_fastapi.batching import MicroBatcher
from lab1_fastapi.model import ModelRegistry, Records
from lab1_fastapi.observability import Metrics
from lab1_fastapi.settings import Settings


class Runtime:
    def __init__(self, settings: Settings, metrics: Metrics):
        self.settings = settings
        self.metrics = metrics
        self.registry = ModelRegistry(
            settings.model_name, settings.model_versions, settings.artifacts_dir, settings.scoring
        )
        self.batchers: dict[int, MicroBatcher] = {}

    async def start(self) -> None:
        # Loading is blocking file and CPU work; a thread keeps the loop responsive meanwhile.
        await asyncio.to_thread(self.registry.load)
        name = self.registry.name
        for version in self.registry.versions:
            served = self.registry.models.get(version)
            self.metrics.model_ready.labels(name, str(version)).set(1 if served else 0)
            if served:
                self.metrics.load_seconds.labels(name, str(version)).set(served.load_seconds)
        for version in self.registry.models:
            batcher = MicroBatcher(
                lambda records, v=version: self.score(v, records),
                max_items=self.settings.batch_max_items,
                max_wait_ms=self.settings.batch_max_wait_ms,
            )
            await batcher.start()
            self.batchers[version] = batcher

    async def stop(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()
        self.batchers.clear()
        self.registry.close()

    def score(self, version: int, records: Records) -> list[float]:
        """One model call; counted so /metrics shows how many rows each call carried."""
        probs = self.registry.predict(version, records).tolist()
        self.metrics.call_rows.labels(self.registry.name, str(version)).observe(len(records))
        return probs

    def predict_sync(self, version: int, records: Records, response: Response) -> list[float]:
        t0 = time.perf_counter()
        probs = self.score(version, records)
        server_timing(response, "model", t0)
        return probs

    async def predict_batched(
        self, version: int, records: Records, response: Response
    ) -> list[float]:
        self.registry.get(version)  # 503 if not loaded, before queueing
        t0 = time.perf_counter()
        probs = await self.batchers[version].submit(list(records))
        server_timing(response, "batch", t0)  # queueing + the shared model call
        return probs

    def respond(self, version: int, request_id: str, probs: list[float]) -> schemas.BaseModel:
        name = self.registry.name
        self.metrics.predictions.labels(name, str(version)).inc(len(probs))
        return schemas.build_response(name, version, request_id, probs)


def server_timing(response: Response, name: str, since: float) -> None:
    """W3C Server-Timing: browser dev tools and the benchmark read where the time went."""
    response.headers.append(
        "server-timing", f"{name};dur={(time.perf_counter() - since) * 1000:.3f}"
    )


async def get_runtime(request: Request) -> Runtime:
    # async, so FastAPI resolves it on the event loop instead of hopping to a thread.
    return request.app.state.runtime


async def get_request_id(request: Request) -> str:
    return request.state.request_id


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
