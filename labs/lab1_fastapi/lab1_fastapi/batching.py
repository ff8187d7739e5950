"""Adaptive micro-batching: concurrent requests share one vectorised model call.

A model call has a fixed cost (with ``LAB1_SCORING=pipeline``: building a DataFrame and running
the sklearn pipeline, milliseconds; with the compiled scorer: a thread hop and numpy set-up) and
a small cost per row, so 32 rows cost little more than 1. The batcher takes whatever is queued,
waits at most ``max_wait_ms`` for more rows (or until ``max_items``), runs the model once in a
worker thread so the event loop stays free, and hands each caller its own slice. It only waits when
the previous batch held several requests: with a single client, waiting is pure added latency.
If the combined call fails, every request is retried alone so one bad request cannot fail its
neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from course_models.tasks import TaskNotImplemented  # noqa: F401 - raised by the task 1.4 stub

PredictFn = Callable[[list[Any]], Sequence[Any]]


@dataclass
class _Job:
    items: list[Any]
    future: asyncio.Future


@dataclass
class BatchStats:
    calls: int = 0
    items: int = 0
    largest: int = 0
    sizes: list[int] = field(default_factory=list)

    def record(self, size: int) -> None:
        self.calls += 1
        self.items += size
        self.largest = max(self.largest, size)
        if len(self.sizes) < 10_000:
            self.sizes.append(size)


class MicroBatcher:
    def __init__(self, predict: PredictFn, max_items: int = 64, max_wait_ms: float = 2.0):
        self.predict = predict
        self.max_items = max_items
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None
        self._busy = False  # did the last batch combine several requests?

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RuntimeError("server is shutting down"))

    # BEGIN TASK 1.4: the micro-batcher: queue, collect a batch, one model call, split
    async def submit(self, items: list[Any]) -> list[Any]:
        """Results for ``items`` in order, computed together with other callers' items."""
        if self._queue is None or self._task is None or self._task.done():
            raise RuntimeError("micro-batcher is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(list(items), future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].items)
            deadline = loop.time() + (self.max_wait if self._busy else 0.0)
            while size < self.max_items:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        async with asyncio.timeout(remaining):
                            job = await self._queue.get()
                    except TimeoutError:
                        break
                else:
                    job = self._queue.get_nowait()
                jobs.append(job)
                size += len(job.items)
            self._busy = len(jobs) > 1
            # Callers that went away (client disconnected) are not worth a model call.
            jobs = [j for j in jobs if not j.future.done()]
            if jobs:
                await self._dispatch(jobs)

    async def _dispatch(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        self.stats.record(len(items))
        try:
            results = await asyncio.to_thread(self._call, items)
        except Exception as exc:
            if len(jobs) == 1:
                _settle(jobs[0], exc=exc)
                return
            for job in jobs:  # isolate the failure: each request on its own
                try:
                    _settle(job, await asyncio.to_thread(self._call, job.items))
                except Exception as job_exc:
                    _settle(job, exc=job_exc)
            return
        offset = 0
        for job in jobs:
            _settle(job, results[offset : offset + len(job.items)])
            offset += len(job.items)

    def _call(self, items: list[Any]) -> list[Any]:
        results = list(self.predict(items))
        if len(results) != len(items):
            raise RuntimeError(f"model returned {len(results)} results for {len(items)} inputs")
        return results

    # STUB
    # async def submit(self, items: list[Any]) -> list[Any]:
    #     """Results for ``items`` in order, computed together with other callers' items."""
    #     raise TaskNotImplemented("1.4", "the micro-batcher (batching.py)")
    # async def _run(self) -> None:
    #     """The batching loop: take queued jobs, call the model once, settle each future."""
    # END TASK 1.4


def _settle(job: _Job, result: Any = None, exc: BaseException | None = None) -> None:
    if job.future.done():
        return
    if exc is not None:
        job.future.set_exception(exc)
    else:
        job.future.set_result(result)
