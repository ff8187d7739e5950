"""Prometheus metrics under TF Serving's names (``:tensorflow:serving:...``), served on the
``prometheus_config.path`` of the monitoring config, on the REST port, as the real server does."""

from __future__ import annotations

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # TF Serving exports no *_created series

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    ":tensorflow:serving:request_count",
    "The total number of requests.",
    ["model_name", "status", "entrypoint"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    ":tensorflow:serving:request_latency",
    "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
    ["model_name", "API", "entrypoint"],
    buckets=[10 * 1.8**i for i in range(25)],
    registry=REGISTRY,
)


def observe(entrypoint: str, model: str, api: str, code: grpc.StatusCode, seconds: float) -> None:
    status = "OK" if code == grpc.StatusCode.OK else code.name
    REQUESTS.labels(model, status, entrypoint).inc()
    LATENCY.labels(model, api, entrypoint).observe(seconds * 1e6)


def render() -> str:
    return generate_latest(REGISTRY).decode()
