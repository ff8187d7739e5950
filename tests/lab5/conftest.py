"""Lab 5 fixtures. Airflow reads its home and DAG folder when first imported, so they are set
here, at import time, before any test module can import airflow."""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import pytest

LAB_DIR = Path(__file__).resolve().parents[2] / "labs" / "lab5_batch_vs_realtime"
DAGS_FOLDER = LAB_DIR / "dags"
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="lab5-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, True)  # even when no lab 5 test runs
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["LAB5_RETRY_DELAY_SECONDS"] = "1"  # read when the DAG file is parsed

import httpx  # noqa: E402

from course_models import procs  # noqa: E402
from course_models.artifacts import artifacts_root  # noqa: E402
from lab5_batch_vs_realtime.settings import Settings  # noqa: E402
from lab5_batch_vs_realtime.stack import serve_command  # noqa: E402
from lab5_batch_vs_realtime.tenants import publish_demo_tenants, publish_tenant_version  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Service:
    """A running lab 5 service: its URL and the tenant registry folder it reads."""

    url: str
    tenants_dir: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@pytest.fixture(scope="session")
def lab5_service(tmp_path_factory, trained_artifacts):
    """``LAB5_URL`` when set (then ``LAB5_TENANTS_DIR`` must be that service's registry and
    ``LAB5_MAX_TENANTS=2``), else the submission's own service started with ``serve_command``
    on a free port: default A/B weights, 2 tenants in memory, newer versions seen at once."""
    url = os.environ.get("LAB5_URL")
    if url:
        tenants = Path(os.environ["LAB5_TENANTS_DIR"])
        publish_demo_tenants(Settings(tenants_dir=tenants))
        yield Service(url.rstrip("/"), tenants)
        return
    work = tmp_path_factory.mktemp("lab5-service")
    env = {
        "LAB5_ARTIFACTS_DIR": str(artifacts_root()),
        "LAB5_TENANTS_DIR": str(work / "tenants"),
        "LAB5_MAX_TENANTS": "2",
        "LAB5_TENANT_CHECK_SECONDS": "0",
        "LAB5_AB_WEIGHTS": '{"1": 0.5, "2": 0.5}',
    }
    publish_demo_tenants(Settings(tenants_dir=work / "tenants"))
    port = procs.free_port()
    with procs.running(serve_command(port), env=env, log=work / "serve.log") as proc:
        base = f"http://127.0.0.1:{port}"
        procs.wait_http(f"{base}/ready", timeout=90, proc=proc)
        yield Service(base, work / "tenants")


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh SQLite metadata database in the session's AIRFLOW_HOME (~5 s)."""
    from airflow.utils import db

    db.resetdb()
    return _AIRFLOW_HOME


@pytest.fixture
def lab5_settings(tmp_path, trained_artifacts, monkeypatch) -> Settings:
    """Settings pointing every store at tmp_path; also exported as LAB5_* for code that reads
    the environment itself (the DAG's tasks)."""
    env = {
        "LAB5_ARTIFACTS_DIR": str(trained_artifacts),
        "LAB5_INPUT_URI": str(tmp_path / "input"),
        "LAB5_OUTPUT_URI": str(tmp_path / "predictions"),
        "LAB5_TENANTS_DIR": str(tmp_path / "tenants"),
        "LAB5_ROWS_PER_DAY": "3000",
        "LAB5_CHUNK_ROWS": "1000",
        "LAB5_ROWS_PER_FILE": "2500",
        "LAB5_MAX_TENANTS": "2",
        "LAB5_TENANT_CHECK_SECONDS": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


@pytest.fixture
def tenant_registry(lab5_settings) -> Path:
    """Three tenants: acme (churn v1), globex and initech (churn v2)."""
    for tenant, source in (("acme", 1), ("globex", 2), ("initech", 2)):
        publish_tenant_version(
            lab5_settings.tenants_dir, tenant, source, lab5_settings.artifacts_dir
        )
    return lab5_settings.tenants_dir


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """A real S3 API over HTTP on a free port (moto_server as its own process)."""
    port = procs.free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = procs.start([procs.venv_bin("moto_server"), "-H", "127.0.0.1", "-p", str(port)], log=log)
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/moto-api/", timeout=30, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        procs.stop(proc)


@pytest.fixture
def s3_settings(lab5_settings, moto_server, monkeypatch) -> Settings:
    """lab5_settings with input and output in a fresh bucket on the moto server."""
    import uuid

    import boto3

    bucket = f"lab5-{uuid.uuid4().hex[:10]}"
    env = {
        "LAB5_S3_ENDPOINT_URL": moto_server,
        "LAB5_S3_ACCESS_KEY_ID": "testing",
        "LAB5_S3_SECRET_ACCESS_KEY": "testing",
        "LAB5_INPUT_URI": f"s3://{bucket}/landing",
        "LAB5_OUTPUT_URI": f"s3://{bucket}/predictions",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name=s.s3_region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    return s


# starlette (through Airflow's in-process execution API and TestClient) warns that it prefers
# `httpx2`; not ours to fix, and warnings are errors in this project.
_LAB5_FILTERS = ("ignore:Using `httpx` with `starlette.testclient` is deprecated",)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            for spec in _LAB5_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory):
    """The BigQuery emulator (bqemulator, its own venv; set up here if `make bq-emulator` has
    not run) on free ports; yields its REST endpoint."""
    from lab5_batch_vs_realtime import bq_emulator as emu

    emu.setup()
    rest, grpc = procs.free_port(), procs.free_port()
    log = tmp_path_factory.mktemp("bq-emulator") / "bqemulator.log"
    with procs.running(emu.command(rest, grpc), env=emu.environment(), log=log) as proc:
        procs.wait_http(f"http://127.0.0.1:{rest}/healthz", timeout=90, proc=proc, log=log)
        yield f"http://127.0.0.1:{rest}"


@pytest.fixture
def bq_settings(lab5_settings, bq_emulator, monkeypatch) -> Settings:
    """lab5_settings with the BigQuery sink on, in a fresh dataset on the emulator."""
    import uuid

    env = {
        "LAB5_SINK": "bigquery",
        "LAB5_BQ_PROJECT": "course-lab5",
        "LAB5_BQ_DATASET": f"lab5_{uuid.uuid4().hex[:8]}",
        "LAB5_BQ_ENDPOINT": bq_emulator,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()
