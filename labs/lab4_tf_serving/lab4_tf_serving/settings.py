"""Lab 4 settings (environment prefix ``LAB4_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from course_models.artifacts import artifacts_root

LAB_DIR = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB4_")

    # auto: Docker or podman when one works and has the image; else the local stand-in.
    engine: str = "auto"
    image: str = "tensorflow/serving:2.21.0"
    models_dir: Path = artifacts_root() / "lab4" / "models"
    config_file: Path = LAB_DIR / "models.config"
    monitoring_file: Path = LAB_DIR / "monitoring.config"
    host: str = "127.0.0.1"
    rest_port: int = 0  # 0 = pick a free port
    grpc_port: int = 0
    poll_seconds: int = 5
