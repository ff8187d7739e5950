"""Lab 4 fixtures: SavedModels exported by the submission's CLI and ONE server per session.

By default the server is the stand-in, started here on free ports with a copy of the lab's
``models.config`` (the dynamic tests edit the copy). Point the suite at a running server instead
(the real TF Serving, or your ``make lab-4``) with ``LAB4_URL`` and ``LAB4_GRPC_ADDR``; the
dynamic-loading tests then also need ``LAB4_SERVER_MODELS_DIR`` (the host directory mounted at
/models) and ``LAB4_SERVER_CONFIG_FILE`` (the host path of its config), and the server must poll
every second (``--model_config_file_poll_wait_seconds=1 --file_system_poll_wait_seconds=1``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from course_models import procs
from course_models.artifacts import load_artifact
from course_models.datasets import load_digits_split
from lab4_tf_serving.settings import LAB_DIR, Settings

# The dynamic tests' config: like models.config, but with policy `all` so that a version-3
# directory copied in gets served (the shipped file pins versions 1 and 2).
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
CONFIG_POLLS = "lab4_standin_config_file_polls_total"


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
    pid: int | None = None


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m lab4_tf_serving ...`` as a student runs it; a non-zero exit (a task stub
    exits 2 at once) fails the check with what the command said."""
    result = subprocess.run(
        [sys.executable, "-m", "lab4_tf_serving", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(
            f"python -m lab4_tf_serving {' '.join(args)} exited {result.returncode}: "
            f"{result.stderr.strip()[-800:]}"
        )
    return result


@pytest.fixture(scope="session")
def lab_cli():
    return cli


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained_artifacts) -> Path:
    """The submission's ``python -m lab4_tf_serving export`` (task 4.1) into a fresh folder."""
    root = tmp_path_factory.mktemp("lab4_models")
    cli("export", "--out", str(root))
    return root


def start_standin(tmp: Path, models: Path, config_text: str, **settings) -> tuple:
    """The lab's own stand-in command line (launcher.standin_cmd) on free ports."""
    from lab4_tf_serving.launcher import standin_cmd

    config = tmp / "models.config"
    config.write_text(config_text)
    shutil.copy(LAB_DIR / "monitoring.config", tmp / "monitoring.config")
    s = Settings(
        config_file=config,
        monitoring_file=tmp / "monitoring.config",
        models_dir=models,
        poll_seconds=1,
        **settings,
    )
    rest_port, grpc_port = procs.free_port(), procs.free_port()
    log = tmp / "server.log"
    proc = procs.start(standin_cmd(s, rest_port, grpc_port), log=log)
    url = f"http://127.0.0.1:{rest_port}"
    try:
        procs.wait_http(f"{url}/v1/models/digits", timeout=180, proc=proc)
    except (TimeoutError, RuntimeError) as exc:
        procs.stop(proc)
        pytest.fail(f"stand-in server did not start: {exc}\n{procs.tail(log)}")
    target = Target(url, f"127.0.0.1:{grpc_port}", models, config, False, log, proc.pid)
    return proc, target


@pytest.fixture(scope="session")
def standin():
    return start_standin


@pytest.fixture(scope="session")
def server(exported, tmp_path_factory):
    s = Settings()
    if s.url and s.grpc_addr:
        yield Target(
            s.url.rstrip("/"), s.grpc_addr, s.server_models_dir, s.server_config_file, True
        )
        return
    shipped = (LAB_DIR / "models.config").read_text()
    proc, target = start_standin(tmp_path_factory.mktemp("lab4_server"), exported, shipped)
    try:
        yield target
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
def config_polls():
    """How often the stand-in's poller read the config file with an outcome (its metric)."""
    from lab4_tf_serving.metrics import sample

    def count(server: Target, outcome: str) -> float:
        text = httpx.get(f"{server.rest}/monitoring/prometheus/metrics", timeout=10).text
        return sample(text, CONFIG_POLLS, {"outcome": outcome})

    return count


@pytest.fixture(scope="session")
def close():
    return assert_close


@pytest.fixture(scope="session")
def make_config():
    return test_config
