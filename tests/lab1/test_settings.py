"""Settings come from LAB1_* variables and are validated at start-up, not mid-request."""

from __future__ import annotations

import sys

import pydantic
import pytest

from lab1_fastapi import server
from lab1_fastapi.__main__ import pick_port
from lab1_fastapi.settings import Settings

pytestmark = pytest.mark.points(0)


def test_env_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB1_PREDICT_MODE", "batched")
    monkeypatch.setenv("LAB1_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("LAB1_WORKERS", "2")
    monkeypatch.setenv("LAB1_ARTIFACTS_DIR", str(tmp_path))
    monkeypatch.setenv("LAB1_MODEL_VERSIONS", "[1]")
    monkeypatch.setenv("LAB1_DEFAULT_VERSION", "1")
    s = Settings(_env_file=None)
    assert (s.predict_mode, s.max_batch_size, s.workers) == ("batched", 7, 2)
    assert s.artifacts_dir == tmp_path
    assert (s.model_versions, s.default_version) == ([1], 1)


@pytest.mark.parametrize(
    "var,value",
    [
        ("LAB1_PREDICT_MODE", "turbo"),
        ("LAB1_WORKERS", "two"),
        ("LAB1_MODEL_VERSIONS", "[1]"),
        ("LAB1_SCORING", "turbo"),
        ("LAB1_LOG_LEVEL", "loud"),
    ],
)
def test_bad_setting_fails_fast(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(pydantic.ValidationError):
        Settings(_env_file=None)


def test_batch_limit_setting_reaches_the_api(serve_app, trained_artifacts, record_v1):
    with serve_app(artifacts_dir=trained_artifacts, max_batch_size=2) as client:
        assert client.post("/predict", json={"instances": [record_v1] * 2}).status_code == 200
        r = client.post("/predict", json={"instances": [record_v1] * 3})
        assert r.status_code == 422
        assert r.json()["detail"][0]["field"] == "instances"


def test_body_limit_setting_reaches_the_api(serve_app, trained_artifacts, record_v1):
    with serve_app(artifacts_dir=trained_artifacts, max_body_bytes=1024) as client:
        assert client.post("/predict", json=record_v1).status_code == 200
        r = client.post("/predict", json={"instances": [record_v1] * 8})
        assert r.status_code == 413


def test_configured_port_wins():
    assert pick_port(Settings.model_construct(port=12345, host="127.0.0.1")) == 12345
    assert pick_port(Settings.model_construct(port=0, host="127.0.0.1")) > 0


def test_server_command_carries_every_setting_to_the_workers(tmp_path, monkeypatch):
    settings = Settings(
        _env_file=None, workers=2, scoring="pipeline", artifacts_dir=tmp_path, access_log=False
    )
    argv, env = server.command(settings, 12345)
    assert argv[:3] == [sys.executable, "-m", "uvicorn"]
    assert argv[argv.index("--port") + 1] == "12345"
    assert argv[argv.index("--workers") + 1] == "2"
    assert "--no-access-log" in argv
    # What each worker's create_app() reads back from the environment:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings(_env_file=None).model_dump() == {**settings.model_dump(), "port": 12345}
