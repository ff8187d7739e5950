"""Cross-cutting HTTP concerns as one plain ASGI middleware: request ids, body limit, metrics.

Plain ASGI (not ``BaseHTTPMiddleware``) because it wraps every request, including /health
under load, and must add microseconds, not milliseconds. Over-limit bodies get their 413 at
once, then the rest of the upload is read and dropped: closing a socket that still has unread
bytes makes the kernel send a reset, and the client would lose the answer. Each app owns its
own Prometheus registry so several apps (tests, workers) never share counters by accident.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import MutableHeaders

from lab1_fastapi.schemas import error_body

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lab1_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "lab1_http_request_duration_seconds",
            "Time from request start to last response byte",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "lab1_predictions",
            "Rows scored, by model and version",
            ["model", "version"],
            registry=self.registry,
        )
        self.load_seconds = Gauge(
            "lab1_model_load_seconds",
            "Seconds it took to load and warm up a model version",
            ["model", "version"],
            registry=self.registry,
        )
        self.call_rows = Histogram(
            "lab1_model_call_rows",
            "Rows per model call (above 1 for single-row requests: the micro-batcher at work)",
            ["model", "version"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.model_ready = Gauge(
            "lab1_model_ready",
            "1 when the version is loaded and serving",
            ["model", "version"],
            registry=self.registry,
        )


# Reading (and dropping) the rest of an over-limit upload lets the client see the 413; past
# these bounds the connection is closed instead, and a client still sending may see a reset.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 10.0


class ServingMiddleware:
    def __init__(self, app: Any, metrics: Metrics, max_body_bytes: int):
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, receive, send, self.max_body_bytes)
        try:
            if (_content_length(scope) or 0) > self.max_body_bytes:
                await exchange.reject()
            else:
                await self.app(scope, exchange.receive, exchange.send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(exchange.status)).inc()
            self.metrics.latency.labels(template, method).observe(
                time.perf_counter() - exchange.start
            )


class _Exchange:
    """One request/response: adds the request id and timing, enforces the body limit."""

    def __init__(self, scope: dict, receive: Any, send: Any, limit: int):
        self.start = time.perf_counter()
        self.request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = self.request_id
        self._receive, self._send, self.limit = receive, send, limit
        self.status = 500
        self.started = self.rejected = False
        self.received = 0

    async def send(self, message: dict) -> None:
        if self.rejected:
            return  # we already answered 413; drop what the app says about the cut-off body
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            headers = MutableHeaders(scope=message)
            headers.append(REQUEST_ID_HEADER, self.request_id)
            # Time inside the app up to the first response byte (framework + model).
            headers.append(
                "server-timing", f"app;dur={(time.perf_counter() - self.start) * 1000:.3f}"
            )
        await self._send(message)

    async def receive(self) -> dict:
        # Chunked uploads have no Content-Length: count while the app reads.
        if self.rejected:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit and not self.started:
                await self.reject(more_body=message.get("more_body", False))
                return {"type": "http.disconnect"}
        return message

    async def reject(self, more_body: bool = True) -> None:
        msg = f"request body is larger than the {self.limit}-byte limit"
        body = json.dumps(error_body("body", msg, "body_too_large"), separators=(",", ":"))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # we will not read another request on this connection
        ]
        await self.send({"type": "http.response.start", "status": 413, "headers": headers})
        await self.send({"type": "http.response.body", "body": body.encode(), "more_body": True})
        self.rejected = True
        if more_body:
            await self._drain()
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _drain(self) -> None:
        """Read the rest of the upload and drop it, within bounds, so the socket closes cleanly."""
        dropped = 0
        try:
            async with asyncio.timeout(DRAIN_MAX_SECONDS):
                while dropped < DRAIN_MAX_BYTES:
                    message = await self._receive()
                    if message["type"] != "http.request":
                        return
                    dropped += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return
        except TimeoutError:
            return


def _request_id(scope: dict) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SAFE_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
