"""Lab 4 fixtures: SavedModels exported into a temporary directory and ONE server per session.

By default the server is the stand-in (started here, on free ports). Point the suite at a real
TF Serving instead with TFSERVING_REST_URL and TFSERVING_GRPC_ADDR (start it with the config in
labs/lab4_tf_serving/models.config, ``--model_config_file_poll_wait_seconds=1`` and
``--file_system_poll_wait_seconds=1``); the dynamic-loading tests also need TFSERVING_MODELS_DIR
(the host directory mounted at /models) and TFSERVING_CONFIG_FILE (the host path of the config).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from course_models import procs
from course_models.artifacts import load_artifact
from course_models.datasets import load_digits_split

LAB_DIR = Path(__file__).resolve().parents[2] / "labs" / "lab4_tf_serving"

# The suite's config: like models.config, but with policy `all` so that a version-3 directory
# copied in gets served (the shipped file pins versions 1 and 2).
TEST_CONFIG = """
model_config_list {
  config {
    name: "digits"
    base_path: "/models/digits"
    model_platform: "tensorflow"
    model_version_policy { all {} }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: %(canary)d }
  }
  config {
    name: "digits_raw"
    base_path: "/models/digits_raw"
    model_platform: "tensorflow"
  }
%(extra)s}
"""


def test_config(canary: int = 2, extra: str = "") -> str:
    return TEST_CONFIG % {"canary": canary, "extra": extra}


@dataclass
class Target:
    rest: str
    grpc: str
    models_dir: Path | None  # host directory the server sees as /models
    config_file: Path | None
    real: bool
    log: Path | None = None


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained_artifacts) -> Path:
    from lab4_tf_serving.export import export_all

    root = tmp_path_factory.mktemp("lab4_models")
    export_all(root, trained_artifacts)
    return root


@pytest.fixture(scope="session")
def server(exported, tmp_path_factory):
    rest, grpc_addr = os.environ.get("TFSERVING_REST_URL"), os.environ.get("TFSERVING_GRPC_ADDR")
    if rest and grpc_addr:
        models = os.environ.get("TFSERVING_MODELS_DIR")
        config = os.environ.get("TFSERVING_CONFIG_FILE")
        yield Target(
            rest.rstrip("/"),
            grpc_addr,
            Path(models) if models else None,
            Path(config) if config else None,
            real=True,
        )
        return
    tmp = tmp_path_factory.mktemp("lab4_server")
    config = tmp / "models.config"
    config.write_text(test_config())
    rest_port, grpc_port = procs.free_port(), procs.free_port()
    log = tmp / "server.log"
    cmd = [
        sys.executable, "-m", "lab4_tf_serving", "serve",
        f"--port={grpc_port}", f"--rest_api_port={rest_port}",
        f"--model_config_file={config}", f"--models_root={exported}",
        "--model_config_file_poll_wait_seconds=1", "--file_system_poll_wait_seconds=1",
        f"--monitoring_config_file={LAB_DIR / 'monitoring.config'}",
        "--allow_version_labels_for_unavailable_models=true",
    ]  # fmt: skip
    proc = procs.start(cmd, log=log)
    try:
        url = f"http://127.0.0.1:{rest_port}"
        try:
            procs.wait_http(f"{url}/v1/models/digits", timeout=120, proc=proc)
        except (TimeoutError, RuntimeError) as exc:
            pytest.fail(f"stand-in server did not start: {exc}\n{procs.tail(log)}")
        yield Target(url, f"127.0.0.1:{grpc_port}", exported, config, real=False, log=log)
    finally:
        procs.stop(proc)


@pytest.fixture(scope="session")
def rest(server):
    from lab4_tf_serving.client import RestClient

    client = RestClient(server.rest)
    yield client
    client.close()


@pytest.fixture(scope="session")
def grpc_client(server):
    from lab4_tf_serving.client import GrpcClient

    client = GrpcClient(server.grpc)
    yield client
    client.close()


@pytest.fixture(scope="session")
def digits():
    """A few held-out digits (float32, (n, 8, 8), in [0, 1])."""
    _, x_test, _, y_test = load_digits_split()
    return x_test[:12], y_test[:12]


@pytest.fixture(scope="session")
def keras_predict(trained_artifacts, digits):
    """In-process Keras predictions for each digits_keras version: the reference answers."""
    x, _ = digits
    return {
        v: load_artifact("digits_keras", v, trained_artifacts).model.predict(x, verbose=0)
        for v in (1, 2)
    }


def assert_close(actual, expected, atol: float = 1e-5) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=0)


@pytest.fixture(scope="session")
def close():
    return assert_close


@pytest.fixture(scope="session")
def make_config():
    return test_config
