"""What the lifespan builds and tears down (models, micro-batchers, metrics), and how routes
reach it: ``RuntimeDep`` reads it from ``app.state`` (the full-stack FastAPI template's style),
so endpoints declare what they need instead of closing over globals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
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

    def predict_sync(self, version: int, records: Records) -> Scored:
        t0 = time.perf_counter()
        return self.score(version, records), server_timing("model", t0)

    async def predict_batched(self, version: int, records: Records) -> Scored:
        self.registry.get(version)  # 503 if not loaded, before queueing
        t0 = time.perf_counter()
        probs = await self.batchers[version].submit(list(records))
        return probs, server_timing("batch", t0)  # queueing + the shared model call

    def respond(
        self,
        version: int,
        request_id: str,
        scored: Scored,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The finished JSON answer, so FastAPI does not validate the response a second time.

        ``build_response`` already builds the typed model (the route's ``response_model`` still
        documents it); handing FastAPI a ``Response`` skips its re-validation, which a ``def``
        endpoint would otherwise run in a second threadpool hop. The bytes are the ones FastAPI
        would write: Pydantic's own JSON of the same model.
        """
        probs, timing = scored
        name = self.registry.name
        self.metrics.predictions.labels(name, str(version)).inc(len(probs))
        body = schemas.build_response(name, version, request_id, probs)
        response = Response(body.model_dump_json(by_alias=True), media_type="application/json")
        response.headers.update(headers or {})
        if timing:
            response.headers.append("server-timing", timing)
        return response


# (probabilities, one W3C Server-Timing entry or "" when nothing was timed)
Scored = tuple[list[float], str]


def server_timing(name: str, since: float) -> str:
    """W3C Server-Timing: browser dev tools and the benchmark read where the time went."""
    return f"{name};dur={(time.perf_counter() - since) * 1000:.3f}"


async def get_runtime(request: Request) -> Runtime:
    # async, so FastAPI resolves it on the event loop instead of hopping to a thread.
    return request.app.state.runtime


async def get_request_id(request: Request) -> str:
    return request.state.request_id


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
