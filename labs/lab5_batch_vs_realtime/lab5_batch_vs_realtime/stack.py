"""`make lab-5`: the real-time service and Airflow side by side, stopped together by Ctrl-C.

Airflow runs as `airflow standalone` in its own session (process group) with its own
AIRFLOW_HOME under artifacts/lab5/airflow, so stopping it stops the scheduler's children too.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from course_models import procs
from lab5_batch_vs_realtime.settings import default_lab_dir, get_settings

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"
DAG_ID = "lab5_churn_batch"


def serve_command(port: int, host: str | None = None) -> list[str]:
    """The real-time service's command line (uvicorn inside): `make lab-5`, bench and tests."""
    cmd = [sys.executable, "-m", "lab5_batch_vs_realtime", "serve", "--port", str(port)]
    return cmd + (["--host", host] if host else [])


def airflow_command() -> list[str]:
    """`airflow standalone` from this venv (its `bin` must be on PATH: see `airflow_env`)."""
    return [procs.venv_bin("airflow"), "standalone"]


def airflow_env(home: Path, port: int, parallelism: int = 2) -> dict[str, str]:
    """Environment for an Airflow 3.3 that shares this venv (see DEVELOPERS.md)."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        # The DAG says it itself (`is_paused_upon_creation=False`, schedule=None): runs happen
        # only when triggered, each with its own run id, so nothing races a trigger or a test.
        "AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        # Task processes report to the API server; on a non-default port they must be told.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # A local teaching stack: no login screen (never do this on a shared server).
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }


def _port(wanted: int) -> int:
    """The preferred port if free, else a free one."""
    pick = getattr(procs, "pick_port", None)
    if pick is not None:
        return pick(wanted)
    return wanted if procs.port_is_free(wanted) else procs.free_port()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_stack(with_airflow: bool = True) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the stack as cleanly as Ctrl-C
    s = get_settings()
    lab_dir = default_lab_dir()
    logs = lab_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if not s.tenants_dir.is_dir():
        from lab5_batch_vs_realtime.tenants import publish_demo_tenants

        publish_demo_tenants(s)

    api_port = _port(s.port)
    started: list = []
    try:
        service = procs.start(serve_command(api_port), log=logs / "service.log")
        started.append(service)
        procs.wait_http(f"http://127.0.0.1:{api_port}/ready", timeout=60, proc=service)
        print(f"\nreal-time service  http://127.0.0.1:{api_port}/docs   (log {logs}/service.log)")

        if with_airflow:
            af_port = _port(s.airflow_port)
            env = airflow_env(lab_dir / "airflow", af_port, s.airflow_parallelism)
            print(f"starting airflow standalone on :{af_port} (about 15-30 s) ...", flush=True)
            airflow = procs.start(airflow_command(), env=env, log=logs / "airflow.log")
            started.append(airflow)
            procs.wait_http(
                f"http://127.0.0.1:{af_port}/api/v2/monitor/health", timeout=180, proc=airflow
            )
            env_file = lab_dir / "airflow" / "env.sh"
            env_file.write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
            print(
                f"airflow            http://127.0.0.1:{af_port}/dags/{DAG_ID}   "
                f"(log {logs}/airflow.log)\n\n"
                "The DAG runs only when triggered (schedule=None): nothing starts on its own.\n"
                "Trigger a run for a date from the UI (Trigger -> config) or from a shell:\n"
                f"  source {env_file}\n"
                f"  .venv/bin/airflow dags trigger {DAG_ID} --run-id day-2026-11-24 "
                '--conf \'{"date": "2026-11-24", "rows": 50000}\'\n'
                f"  .venv/bin/airflow dags list-runs {DAG_ID}\n"
                f"Outputs: {s.output_uri}/date=YYYY-MM-DD/\n"
            )
        print("Ctrl-C stops everything.", flush=True)
        while all(p.poll() is None for p in started):
            time.sleep(1)
        dead = [p.args[0] for p in started if p.poll() is not None]
        print(f"stopped: {dead} exited; see the logs in {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in reversed(started):
            procs.stop(proc)
        print("lab 5 stopped.", flush=True)
