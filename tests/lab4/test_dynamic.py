"""Dynamic loading without a restart: version directories appear and disappear under the base
path, and edits to the model config file add models and move labels."""

from __future__ import annotations

import json
import os
import shutil

import httpx
import pytest

from course_models.procs import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.integration]
WAIT = 30  # seconds; the suite's server polls every second


@pytest.fixture
def paths(server, make_config):
    if server.models_dir is None or server.config_file is None:
        pytest.fail(
            "against a running server the dynamic tests need LAB4_SERVER_MODELS_DIR (host dir "
            "mounted at /models) and LAB4_SERVER_CONFIG_FILE (host path of its model config)"
        )
    original = server.config_file.read_text()
    _write_config(server, make_config())
    yield server.models_dir, server.config_file
    _write_config(server, original)


def _write_config(server, text: str) -> None:
    tmp = server.config_file.with_name(server.config_file.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(server.config_file)  # atomic: the poller never reads half a file


def _poller_read(server, write, outcome: str, config_polls) -> None:
    """Run ``write()`` and return once the server's poller has read what it wrote.

    The stand-in counts its reads (a metric, by outcome); the real server exposes no such count,
    so there the evidence is the file's access time passing its modification time (a read after
    the write; ``relatime``, Linux's default, updates atime exactly then)."""
    if not server.real:
        before = config_polls(server, outcome)
        write()
        wait_until(lambda: config_polls(server, outcome) > before, WAIT, what=f"a {outcome} poll")
        return
    write()
    mtime = os.stat(server.config_file).st_mtime
    wait_until(lambda: os.stat(server.config_file).st_atime > mtime, WAIT, what="config read")


def _states(server, model: str) -> dict[str, str]:
    r = httpx.get(f"{server.rest}/v1/models/{model}", timeout=10)
    if r.status_code != 200:
        return {}
    return {s["version"]: s["state"] for s in r.json()["model_version_status"]}


def _predict(server, path: str, x) -> httpx.Response:
    return httpx.post(f"{server.rest}{path}:predict", json={"instances": x.tolist()}, timeout=30)


@pytest.mark.points(0)
def test_new_version_directory_is_served_then_unloaded(server, paths, digits, grpc_client, close):
    models_dir, _ = paths
    x, _ = digits
    v3 = models_dir / "digits" / "3"
    staging = models_dir / "digits" / ".staging-3"
    shutil.copytree(models_dir / "digits" / "2", staging)
    try:
        staging.rename(v3)  # appear whole, as a deployment should publish a version
        wait_until(lambda: _states(server, "digits").get("3") == "AVAILABLE", WAIT, what="v3")
        r = _predict(server, "/v1/models/digits/versions/3", x)
        assert r.status_code == 200
        v2 = _predict(server, "/v1/models/digits/versions/2", x).json()["predictions"]
        close(r.json()["predictions"], v2, atol=1e-6)
        latest = grpc_client.predict_response("digits", {"image": x})
        assert latest.model_spec.version.value == 3  # "latest" moved on its own
    finally:
        shutil.rmtree(v3, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    wait_until(lambda: _states(server, "digits").get("3") == "END", WAIT, what="v3 unloaded")
    r = _predict(server, "/v1/models/digits/versions/3", x)
    assert r.status_code == 404
    assert r.json() == {"error": "Servable not found for request: Specific(digits, 3)"}
    assert _states(server, "digits")["2"] == "AVAILABLE"
    assert grpc_client.predict_response("digits", {"image": x}).model_spec.version.value == 2


EXTRA_MODEL = """  config {
    name: "digits_pinned"
    base_path: "/models/digits"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 } }
  }
"""


@pytest.mark.points(0)
def test_config_file_change_adds_and_removes_a_model(
    server, paths, make_config, digits, keras_predict, close
):
    x, _ = digits
    assert _states(server, "digits_pinned") == {}
    _write_config(server, make_config(extra=EXTRA_MODEL))
    wait_until(
        lambda: _states(server, "digits_pinned").get("1") == "AVAILABLE", WAIT, what="new model"
    )
    r = _predict(server, "/v1/models/digits_pinned", x)
    assert r.status_code == 200
    close(r.json()["predictions"], keras_predict[1])
    _write_config(server, make_config())
    wait_until(
        lambda: _predict(server, "/v1/models/digits_pinned", x).status_code == 404,
        WAIT,
        what="model removed",
    )
    body = _predict(server, "/v1/models/digits_pinned", x).json()
    assert body == {"error": "Servable not found for request: Latest(digits_pinned)"}


@pytest.mark.points(0)
def test_moving_a_label_in_the_config_repoints_clients(
    server, paths, make_config, digits, keras_predict
):
    import numpy as np

    x, _ = digits

    def canary_is(version: int) -> bool:
        r = _predict(server, "/v1/models/digits/labels/canary", x)
        return r.status_code == 200 and np.allclose(
            r.json()["predictions"], keras_predict[version], atol=1e-5
        )

    assert canary_is(2)
    _write_config(server, make_config(canary=1))
    wait_until(lambda: canary_is(1), WAIT, what="canary -> 1")
    _write_config(server, make_config(canary=2))
    wait_until(lambda: canary_is(2), WAIT, what="canary -> 2")


@pytest.mark.points(0)
def test_an_existing_label_cannot_move_to_a_version_that_is_not_loaded(
    server, paths, make_config, digits, keras_predict
):
    """Even with --allow_version_labels_for_unavailable_models, only *new* labels may point at
    unloaded versions: clients of `canary` must not be sent to version 7, which is not there."""
    import numpy as np

    x, _ = digits
    # The same edit adds a model: once it serves, the poller has applied this very file.
    _write_config(server, make_config(canary=7, extra=EXTRA_MODEL))
    wait_until(
        lambda: _states(server, "digits_pinned").get("1") == "AVAILABLE", WAIT, what="applied"
    )
    r = _predict(server, "/v1/models/digits/labels/canary", x)
    assert r.status_code == 200, r.text
    assert np.allclose(r.json()["predictions"], keras_predict[2], atol=1e-5)


@pytest.mark.points(0)
def test_broken_config_file_keeps_the_current_models(
    server, paths, make_config, digits, config_polls
):
    x, _ = digits
    truncated = "model_config_list { config { name: 'digits' "
    _poller_read(server, lambda: _write_config(server, truncated), "invalid", config_polls)
    r = _predict(server, "/v1/models/digits", x)
    assert r.status_code == 200, json.dumps(r.json())
    assert _states(server, "digits")["2"] == "AVAILABLE"


@pytest.mark.points(0)
def test_reload_config_over_grpc(server, paths, make_config, grpc_client):
    """ModelService.HandleReloadConfigRequest: the other way to change what is served."""
    from tensorflow_serving.apis import model_management_pb2

    from lab4_tf_serving.config import parse_model_config

    request = model_management_pb2.ReloadConfigRequest()
    request.config.CopyFrom(parse_model_config(make_config(extra=EXTRA_MODEL)))
    try:
        response = grpc_client.models.HandleReloadConfigRequest(request, timeout=60)
        assert response.status.error_code == 0, response.status.error_message
        wait_until(
            lambda: _states(server, "digits_pinned").get("1") == "AVAILABLE", WAIT, what="reload"
        )
    finally:
        request.config.CopyFrom(parse_model_config(make_config()))
        grpc_client.models.HandleReloadConfigRequest(request, timeout=60)
    r = httpx.get(f"{server.rest}/v1/models/digits_pinned/versions/1", timeout=10)
    assert r.json()["model_version_status"][0]["state"] == "END"
