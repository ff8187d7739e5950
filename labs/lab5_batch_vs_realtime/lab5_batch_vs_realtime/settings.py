"""Every knob of lab 5 in one place, read from ``LAB5_*`` environment variables.

The real-time service, the batch CLI and the Airflow DAG all build their configuration from this
class, so `LAB5_OUTPUT_URI=s3://...` means the same thing to all three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from course_models.artifacts import artifacts_root

MODEL_NAME = "churn"


def default_lab_dir() -> Path:
    """Where lab 5 keeps its data, tenants and Airflow home: ``<artifacts>/lab5``."""
    return artifacts_root() / "lab5"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAB5_", extra="ignore")

    # --- real-time service -------------------------------------------------------------------
    artifacts_dir: Path | None = Field(
        None, description="artifacts root holding churn/<version>/ (default: the repo's artifacts/)"
    )
    ab_weights: dict[int, float] = Field(
        default_factory=lambda: {1: 0.5, 2: 0.5},
        description='A/B traffic split, JSON: LAB5_AB_WEIGHTS=\'{"1": 0.9, "2": 0.1}\'',
    )
    ab_salt: str = Field("lab5", description="changing it reshuffles which users get which arm")
    shadow_version: int | None = Field(
        None, description="also score this version after answering, log and count disagreements"
    )
    tenants_dir: Path = Field(default_factory=lambda: default_lab_dir() / "tenants")
    max_tenants: int = Field(4, ge=1, description="tenant models kept in memory (LRU)")
    tenant_check_seconds: float = Field(
        2.0, ge=0, description="how often a tenant's folder is re-listed for a newer version"
    )
    host: str = "127.0.0.1"
    port: int = Field(8005, ge=1, le=65535, description="preferred port (a free one if taken)")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"
    max_body_bytes: int = Field(
        2**20, ge=1024, le=16 * 2**20, description="larger request bodies get 413"
    )
    scorer: Literal["fast", "pipeline"] = Field(
        "fast",
        description="fast: the compiled, load-checked ChurnScorer; pipeline: sklearn's Pipeline "
        "(slow, for comparison). Used by /predict and the batch CLI",
    )

    # --- Airflow (make lab-5) ---------------------------------------------------------------
    airflow_port: int = Field(8085, ge=1, le=65535, description="preferred Airflow API/UI port")
    airflow_parallelism: int = Field(2, ge=1, le=32, description="task slots (2 cores here)")
    retry_delay_seconds: float = Field(
        20.0, ge=0, le=3600, description="delay before a failed DAG task's retry"
    )

    # --- batch pipeline --------------------------------------------------------------------------
    model_version: int | None = Field(None, description="batch model version (default: latest)")
    input_uri: str = Field(
        default_factory=lambda: str(default_lab_dir() / "data" / "input"),
        description="root of the landed daily input (a folder or s3://bucket/prefix)",
    )
    output_uri: str = Field(
        default_factory=lambda: str(default_lab_dir() / "data" / "predictions"),
        description="root of the date-partitioned predictions (a folder or s3://bucket/prefix)",
    )
    rows_per_day: int = Field(200_000, ge=1, le=100_000_000)
    chunk_rows: int = Field(
        131_072, ge=1, le=4_000_000, description="rows per read batch and output row group"
    )
    rows_per_file: int = Field(1_000_000, ge=1, description="rows per output Parquet file")
    seed: int = Field(42, ge=0)

    # --- S3 (MinIO in compose, moto in tests, AWS in real life) ---------------------------------
    s3_endpoint_url: str | None = Field(None, description="e.g. http://minio:9000")
    s3_region: str = Field("us-east-1", min_length=1)
    s3_access_key_id: str | None = Field(None, description="falls back to boto3's usual chain")
    s3_secret_access_key: str | None = None

    # --- BigQuery sink (off by default; the emulator in tests, Google's service in real life) ----
    sink: Literal["none", "bigquery"] = Field(
        "none", description="where a committed partition is also published (batch --sink)"
    )
    bq_project: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        description="Google Cloud project id (required when sink=bigquery)",
    )
    bq_dataset: str = Field("lab5", pattern=r"^[A-Za-z0-9_]{1,1024}$")
    bq_table: str = Field(
        "churn_predictions",
        pattern=r"^[A-Za-z0-9_]{1,1000}$",
        description="date-partitioned on `date`; no `$` decorator here, the sink picks the day",
    )
    bq_location: str | None = Field(None, description="dataset location, e.g. EU (default US)")
    bq_endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^/\s]+/?$",
        description="e.g. http://127.0.0.1:9050 (the emulator); unset: Google's API",
    )

    @field_validator("ab_weights")
    @classmethod
    def _weights_make_sense(cls, value: dict[int, float]) -> dict[int, float]:
        if not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("ab_weights needs at least one version with a positive weight")
        return value

    @model_validator(mode="after")
    def _sink_is_configured(self) -> Settings:
        if self.sink == "bigquery" and not self.bq_project:
            raise ValueError("sink=bigquery needs LAB5_BQ_PROJECT (the Google Cloud project id)")
        return self


def get_settings(**overrides) -> Settings:
    """Fresh settings from the environment (never cached: tests and the DAG's tasks change it)."""
    return Settings(**overrides)
