"""Lab 4 settings (environment prefix ``LAB4_``): one place for every knob the lab reads."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from course_models.artifacts import artifacts_root

LAB_DIR = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
Port = Field(0, ge=0, le=65535)


def _models_dir() -> Path:
    return artifacts_root() / "lab4" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB4_", extra="forbid", populate_by_name=True)

    # auto: tensorflow_model_server on PATH, else Docker/podman with the image, else the stand-in.
    engine: Literal["auto", "binary", "docker", "podman", "local"] = "auto"
    image: str = Field("tensorflow/serving:2.21.0", min_length=1)
    models_dir: Path = Field(default_factory=_models_dir)
    config_file: Path = LAB_DIR / "models.config"
    monitoring_file: Path = LAB_DIR / "monitoring.config"
    host: str = Field("127.0.0.1", min_length=1)
    rest_port: int = Port  # 0 = pick a free port
    grpc_port: int = Port
    poll_seconds: int = Field(5, ge=1, le=3600)
    # The stand-in's request limits (the real server has none on REST and 2 GiB on gRPC).
    rest_max_body_bytes: int = Field(16 * MIB, ge=1024, le=2**31 - 1)
    grpc_max_receive_bytes: int = Field(16 * MIB, ge=1024, le=2**31 - 1)
    # TensorFlow's C++ logging for the lab's Python processes: 0 shows everything (oneDNN,
    # CUDA stubs, cuInit), 1 hides INFO, 2 also WARNING, 3 also ERROR.
    tf_log_level: int = Field(2, ge=0, le=3)
    # Grading a running server instead of starting the stand-in (the TFSERVING_* names are the
    # ones earlier versions of the lab documented; both work).
    url: str | None = Field(None, validation_alias=AliasChoices("LAB4_URL", "TFSERVING_REST_URL"))
    grpc_addr: str | None = Field(
        None, validation_alias=AliasChoices("LAB4_GRPC_ADDR", "TFSERVING_GRPC_ADDR")
    )
    server_models_dir: Path | None = Field(
        None, validation_alias=AliasChoices("LAB4_SERVER_MODELS_DIR", "TFSERVING_MODELS_DIR")
    )
    server_config_file: Path | None = Field(
        None, validation_alias=AliasChoices("LAB4_SERVER_CONFIG_FILE", "TFSERVING_CONFIG_FILE")
    )
