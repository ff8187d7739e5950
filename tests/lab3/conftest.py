"""Lab 3 fixtures: archives built from the trained artifacts into a temp model store, one real
TorchServe for the integration tests (free ports, own TMPDIR, always stopped) — or the running
one named by ``LAB3_URL``/``LAB3_MANAGEMENT_URL``/``LAB3_METRICS_URL`` — and staged model
directories (the same files as an unpacked .mar) for handler unit tests without Java.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from ts.context import Context, RequestProcessor
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl

from course_models.artifacts import load_artifact, verify_artifact
from course_models.cnn import predict_digits
from course_models.datasets import load_digits_split
from course_models.tasks import TaskNotImplemented
from lab3_torchserve.client import InferenceClient, ManagementClient
from lab3_torchserve.package import MODEL_NAME, TEXT_MODEL, build_mar, build_text_mar, mar_name
from lab3_torchserve.run import register_all
from lab3_torchserve.server import METRICS_CONFIG, TorchServe
from lab3_torchserve.settings import Lab3Settings

BATCH_SIZE = 8
MAX_BATCH_DELAY_MS = 50


class Worker:
    """What a TorchServe Python worker gives a handler: a real ts Context and metrics cache."""

    @staticmethod
    def context(model: str, directory: Path, manifest: dict, config_file: Path) -> Context:
        metrics = MetricsCacheYamlImpl(str(METRICS_CONFIG))
        metrics.initialize_cache()
        metrics.model_name = model
        return Context(
            model, str(directory), manifest, 8, None, "0.12.0",
            metrics=metrics, model_yaml_config=yaml.safe_load(config_file.read_text()),
        )  # fmt: skip

    @staticmethod
    def run(handle, context: Context, bodies: list) -> tuple[list[dict], list[int]]:
        """One batch as the worker sends it: request ids, processors, then ``handle()``."""
        context.request_ids = {i: f"req-{i}" for i in range(len(bodies))}
        context.metrics.set_request_ids(context.request_ids)
        context.request_processor = [RequestProcessor({}) for _ in bodies]
        out = handle([{"body": b} for b in bodies], context)
        assert len(out) == len(bodies)
        return out, [context.get_response_status(i)[0] for i in range(len(bodies))]


@pytest.fixture(scope="session")
def worker() -> type[Worker]:
    return Worker


def pytest_configure(config):
    config.addinivalue_line("markers", "task(id): the assignment task a graded check belongs to")


@pytest.fixture(scope="session")
def text_artifacts(trained_artifacts) -> Path:
    """support_intent/1 must be trained too (`make train`); fails, never skips."""
    verify_artifact(TEXT_MODEL, 1, trained_artifacts)
    return trained_artifacts


@dataclass
class Digits:
    x: np.ndarray  # (n, 8, 8) in [0, 1]
    y: np.ndarray
    expected_v1: list[str]  # what digits_cnn v1 predicts for each (computed in-process)


@pytest.fixture(scope="session")
def digits(trained_artifacts) -> Digits:
    _, x_test, _, y_test = load_digits_split()
    model = load_artifact(MODEL_NAME, 1, trained_artifacts).model
    with torch.inference_mode():
        expected = predict_digits(model, x_test).argmax(dim=1).tolist()
    return Digits(x_test, y_test, [str(e) for e in expected])


@pytest.fixture(scope="session")
def model_store(trained_artifacts, text_artifacts, tmp_path_factory) -> Path:
    """Both digits versions, and support_intent unless its packaging task is still a stub."""
    store = tmp_path_factory.mktemp("model_store")
    for version in (1, 2):
        build_mar(version, store, trained_artifacts)
    # A stubbed packaging task fails its own checks; the digits checks still run.
    with contextlib.suppress(TaskNotImplemented):
        build_text_mar(1, store, text_artifacts)
    return store


@dataclass
class Lab3Server:
    server: TorchServe | None  # None when grading a running TorchServe given by LAB3_URL
    mgmt: ManagementClient
    infer: InferenceClient
    metrics_url: str

    def local(self) -> TorchServe:
        if self.server is None:
            pytest.skip("needs a TorchServe started by the tests (LAB3_URL is set)")
        return self.server


@pytest.fixture(scope="session")
def torchserve(model_store, tmp_path_factory) -> Iterator[Lab3Server]:
    """digits_cnn v1 (batch 8, 1 worker) and support_intent (its archive's config).

    Tests restore what they change. With ``LAB3_URL`` set, that server is graded as it is.
    """
    if os.environ.get("LAB3_URL"):
        mgmt = ManagementClient(os.environ.get("LAB3_MANAGEMENT_URL", "http://127.0.0.1:8081"))
        infer = InferenceClient(os.environ["LAB3_URL"])
        yield Lab3Server(None, mgmt, infer, os.environ.get("LAB3_METRICS_URL", ""))
        return
    server = TorchServe(model_store, workdir=tmp_path_factory.mktemp("torchserve"))
    server.start()
    mgmt = ManagementClient(server.management_url)
    infer = InferenceClient(server.inference_url)
    settings = Lab3Settings(
        versions=[1], batch_size=BATCH_SIZE, max_batch_delay_ms=MAX_BATCH_DELAY_MS
    )
    text_built = (model_store / mar_name(1, TEXT_MODEL)).exists()
    models = [MODEL_NAME, TEXT_MODEL] if text_built else [MODEL_NAME]
    try:
        register_all(mgmt, settings, models)
        yield Lab3Server(server, mgmt, infer, server.metrics_url)
    except Exception:
        print(server.tail(80))
        raise
    finally:
        mgmt.close()
        infer.close()
        server.stop()
