"""Cross-cutting HTTP concerns as one plain ASGI middleware: request ids, body limit, metrics.

Plain ASGI (not ``BaseHTTPMiddleware``) because it wraps every request, including /health
under load, and must add microseconds, not milliseconds. Each app owns its own Prometheus
registry so several apps (tests, workers) never share counters by accident.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.datastructures import MutableHeaders

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
        self.model_ready = Gauge(
            "lab1_model_ready",
            "1 when the version is loaded and serving",
            ["model", "version"],
            registry=self.registry,
        )


def error_body(field: str, msg: str, type_: str) -> dict[str, Any]:
    return {"detail": [{"loc": [field], "field": field, "msg": msg, "type": type_}]}


class ServingMiddleware:
    def __init__(self, app: Any, metrics: Metrics, max_body_bytes: int):
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = rejected = False

        async def send_wrapper(message: dict) -> None:
            nonlocal status, started
            if rejected:
                return  # we already answered 413; drop what the app says about the cut-off body
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers.append(REQUEST_ID_HEADER, request_id)
                # Time inside the app up to the first response byte (framework + model).
                headers.append(
                    "server-timing", f"app;dur={(time.perf_counter() - start) * 1000:.3f}"
                )
            await send(message)

        async def reject() -> None:
            nonlocal rejected
            msg = f"request body is larger than the {self.max_body_bytes}-byte limit"
            await _send_json(send_wrapper, 413, error_body("body", msg, "body_too_large"))
            rejected = True

        received = 0

        async def limited_receive() -> dict:
            # Chunked uploads have no Content-Length: count while the app reads.
            nonlocal received
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes and not started:
                    await reject()
                    return {"type": "http.disconnect"}
            return message

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                await reject()
            else:
                await self.app(scope, limited_receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - start)


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


async def _send_json(send: Any, status: int, payload: dict) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # Tell the client we will not read the rest of an oversized upload.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
