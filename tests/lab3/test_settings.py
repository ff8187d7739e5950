"""Lab 3 settings and Java discovery (no server)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from course_models import sysdeps
from lab3_torchserve import java
from lab3_torchserve.server import TorchServe, torchserve_command
from lab3_torchserve.settings import Lab3Settings


@pytest.mark.points(0)
@pytest.mark.parametrize(
    ("name", "value"),
    [("BATCH_SIZE", "0"), ("WORKERS", "0"), ("MODELS", '["digits"]'), ("INFERENCE_PORT", "70000")],
)
def test_out_of_range_settings_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(f"LAB3_{name}", value)
    with pytest.raises(ValidationError, match=name.lower()):
        Lab3Settings()


@pytest.mark.points(0)
def test_defaults_serve_both_models():
    settings = Lab3Settings()
    assert settings.models == ["digits_cnn", "support_intent"] and settings.batch_size == 8


@pytest.mark.points(0)
def test_one_command_line_for_every_caller(tmp_path):
    server = TorchServe(tmp_path / "store", workdir=tmp_path / "work")
    cmd = torchserve_command(tmp_path / "c.properties", server.model_store)
    assert cmd[0].endswith("torchserve") and "--foreground" in cmd and "--ncs" in cmd
    assert cmd[cmd.index("--model-store") + 1] == str(server.model_store)


@pytest.mark.points(0)
def test_homebrew_jdk_is_found_when_java_is_not_on_path(monkeypatch, tmp_path):
    jdk = tmp_path / "opt" / "openjdk@17"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("#!/bin/sh\n")
    monkeypatch.setattr(sysdeps, "HOMEBREW_JDKS", (tmp_path / "missing", jdk))
    extra, hint = java.java_env({"PATH": str(tmp_path / "empty")})
    assert extra == {"JAVA_HOME": str(jdk)}
    assert f"{jdk}/bin:$PATH" in hint
    monkeypatch.setattr(sysdeps, "HOMEBREW_JDKS", ())
    with pytest.raises(java.JavaNotFound, match="openjdk-17"):
        java.java_env({"PATH": str(tmp_path / "empty")})
    assert java.java_env() == ({}, None)  # this machine has java on PATH
