"""``LAB3_*`` settings for ``make lab-3`` (and the bench/tests, which pass their own values).

Ports 0 mean "pick a free one". Batching values are bounded: TorchServe would accept
``batch_size=0`` at registration and then never form a batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Port = Annotated[int, Field(ge=0, le=65535)]
BatchSize = Annotated[int, Field(ge=1, le=64)]
ModelName = Literal["digits_cnn", "support_intent"]
LAB_DIR = Path(__file__).resolve().parent.parent


class Lab3Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB3_", extra="forbid")

    host: str = "127.0.0.1"
    inference_port: Port = 0
    management_port: Port = 0
    metrics_port: Port = 0
    model_store: Path = Field(default_factory=lambda: LAB_DIR / "model_store")
    models: list[ModelName] = Field(default_factory=lambda: ["digits_cnn", "support_intent"])
    # digits_cnn versions, registered in this order; the first is the default.
    versions: list[Literal[1, 2]] = Field(default_factory=lambda: [1, 2], min_length=1)
    batch_size: BatchSize = 8
    max_batch_delay_ms: Annotated[int, Field(ge=0, le=10_000)] = 20
    workers: Annotated[int, Field(ge=1, le=8)] = 1
    # support_intent: None = the values packed in its model-config.yaml.
    text_batch_size: BatchSize | None = None
    text_workers: Annotated[int, Field(ge=1, le=8)] | None = None
    start_timeout_s: Annotated[float, Field(gt=0, le=900)] = 300.0
