"""Deployment knobs, read from ``LAB1_*`` environment variables (or a ``.env`` file).

Keeping them in one typed object means a bad value (``LAB1_WORKERS=two``) fails at start-up
with a clear message instead of somewhere inside a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PredictMode = Literal["blocking", "threadpool", "batched"]
PREDICT_MODES: tuple[PredictMode, ...] = ("blocking", "threadpool", "batched")
ScoringMode = Literal["fast", "pipeline"]
SCORING_MODES: tuple[ScoringMode, ...] = ("fast", "pipeline")
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB1_", env_file=".env", extra="ignore")

    artifacts_dir: Path | None = Field(
        None, description="Model artifacts root; default: $COURSE_ARTIFACTS_DIR or <repo>/artifacts"
    )
    model_name: str = "churn"
    model_versions: list[int] = Field(default_factory=lambda: [1, 2])
    default_version: int = Field(2, description="Version that answers POST /predict")
    predict_mode: PredictMode = Field(
        "threadpool", description="How /predict, /v1 and /v2 run the model"
    )
    max_batch_size: int = Field(256, ge=1, description="Most instances one request may carry")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Larger request bodies get 413")
    batch_max_items: int = Field(64, ge=1, description="Micro-batcher: rows per model call")
    batch_max_wait_ms: float = Field(2.0, ge=0, description="Micro-batcher: wait for more rows")
    scoring: ScoringMode = Field(
        "fast",
        description="fast: the compiled numpy scorer; pipeline: the sklearn Pipeline (slow path)",
    )
    noop_endpoint: bool = Field(
        False, description="Serve POST /lab/noop/predict (validates, skips the model): a ceiling"
    )
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535, description="0 = 8000 if free, else any free port")
    workers: int = Field(1, ge=1, le=64)
    access_log: bool = True
    log_level: LogLevel = "info"

    @model_validator(mode="after")
    def _default_is_served(self) -> Settings:
        if self.default_version not in self.model_versions:
            raise ValueError(
                f"default_version {self.default_version} is not in model_versions "
                f"{self.model_versions}: /predict would never be ready"
            )
        return self
