"""Prometheus metrics under TF Serving's names (``:tensorflow:serving:...``), served on the
``prometheus_config.path`` of the monitoring config, on the REST port, as the real server does.

One ``Metrics`` per server (its own registry), so two servers in one process (tests) never mix
their counts. The ``lab4_standin_*`` series are the stand-in's own: they say that its pollers
ran, which tests wait on instead of sleeping.
"""

from __future__ import annotations

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # TF Serving exports no *_created series
        self.registry = CollectorRegistry()
        self.requests = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ["model_name", "status", "entrypoint"],
            registry=self.registry,
        )
        self.latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=[10 * 1.8**i for i in range(25)],
            registry=self.registry,
        )
        self.config_polls = Counter(
            "lab4_standin_config_file_polls",
            "Stand-in only: reads of --model_config_file by its poller, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.fs_polls = Counter(
            "lab4_standin_file_system_polls",
            "Stand-in only: scans of the models' base paths for version directories.",
            registry=self.registry,
        )

    def observe(
        self, entrypoint: str, model: str, api: str, code: grpc.StatusCode, seconds: float
    ) -> None:
        status = "OK" if code == grpc.StatusCode.OK else code.name
        self.requests.labels(model, status, entrypoint).inc()
        self.latency.labels(model, api, entrypoint).observe(seconds * 1e6)

    def render(self) -> str:
        return generate_latest(self.registry).decode()


def sample(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample's value from a Prometheus text page (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                return s.value
    return 0.0
