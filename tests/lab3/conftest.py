"""Lab 3 fixtures: archives built from the trained artifacts into a temp model store, one real
TorchServe for the integration tests (free ports, own TMPDIR, always stopped), and a staged
model directory (the same files as an unpacked .mar) for handler unit tests without Java.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from course_models.artifacts import load_artifact
from course_models.cnn import predict_digits
from course_models.datasets import load_digits_split
from lab3_torchserve.client import InferenceClient, ManagementClient
from lab3_torchserve.package import MODEL_NAME, build_mar, mar_name
from lab3_torchserve.server import TorchServe

BATCH_SIZE = 8
MAX_BATCH_DELAY_MS = 50


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
def model_store(trained_artifacts, tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("model_store")
    for version in (1, 2):
        build_mar(version, store, trained_artifacts)
    return store


@dataclass
class Lab3Server:
    server: TorchServe
    mgmt: ManagementClient
    infer: InferenceClient


@pytest.fixture(scope="session")
def torchserve(model_store, tmp_path_factory) -> Iterator[Lab3Server]:
    """digits_cnn v1 registered with batch_size 8 and one worker; tests restore what they change."""
    server = TorchServe(model_store, workdir=tmp_path_factory.mktemp("torchserve"))
    server.start()
    mgmt = ManagementClient(server.management_url)
    infer = InferenceClient(server.inference_url)
    try:
        mgmt.register(
            mar_name(1),
            MODEL_NAME,
            batch_size=BATCH_SIZE,
            max_batch_delay_ms=MAX_BATCH_DELAY_MS,
            initial_workers=1,
        )
        yield Lab3Server(server, mgmt, infer)
    except Exception:
        print(server.tail(80))
        raise
    finally:
        mgmt.close()
        infer.close()
        server.stop()
