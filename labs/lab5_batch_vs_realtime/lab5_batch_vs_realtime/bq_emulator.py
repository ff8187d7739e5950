"""The local BigQuery emulator (``bqemulator`` from PyPI) in a venv of its own.

bqemulator pins FastAPI and gRPC ranges that conflict with the course's (Airflow caps FastAPI),
so it lives in ``<course venv>/bqemulator`` with the exact versions of
``bq-emulator-requirements.txt``, and runs as its own process; the lab talks to it over HTTP
with the official client, as it talks to moto for S3.

    python -m lab5_batch_vs_realtime.bq_emulator setup          # idempotent (make bq-emulator)
    python -m lab5_batch_vs_realtime.bq_emulator run --port 9050  # foreground, Ctrl-C stops it

It starts offline only with its DuckDB spatial extension pre-installed: setup copies the one
from the ``duckdb-extension-spatial`` wheel into ``<emulator venv>/home/.duckdb/extensions/``,
and the emulator runs with ``HOME`` there (nothing is written to your home) and with DuckDB's
optional Avro extension off (it would be downloaded).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[1] / "bq-emulator-requirements.txt"
VENV = Path(sys.prefix) / "bqemulator"
STAMP = VENV / ".setup-stamp"
HOME = VENV / "home"

_FIND_SPATIAL = """
import os, duckdb, duckdb_extension_spatial as s
root = os.path.join(os.path.dirname(s.__file__), "extensions")
version = duckdb.__version__
platform = duckdb.sql("PRAGMA platform").fetchone()[0]
print(os.path.join(root, "v" + version, "spatial.duckdb_extension"))
print(os.path.join("v" + version, platform))
"""


def _python() -> Path:
    return VENV / "bin" / "python"


def _wanted() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def is_set_up() -> bool:
    return STAMP.exists() and STAMP.read_text().strip() == _wanted() and _python().exists()


def setup(quiet: bool = True) -> Path:
    """Create or refresh the emulator venv (a no-op when its stamp matches the pins)."""
    if is_set_up():
        return VENV
    q = ["-q"] if quiet else []
    if not _python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(_python()), "-m", "pip"]
    subprocess.run([*pip, "install", *q, "-r", str(REQUIREMENTS)], check=True)
    subprocess.run([*pip, "check"], check=True)
    found = subprocess.run(
        [str(_python()), "-c", _FIND_SPATIAL], check=True, capture_output=True, text=True
    ).stdout.split()
    target = HOME / ".duckdb" / "extensions" / found[1]
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(found[0], target / "spatial.duckdb_extension")
    STAMP.write_text(_wanted() + "\n")
    return VENV


def command(rest_port: int, grpc_port: int, project: str = "course-lab5") -> list[str]:
    return [
        str(VENV / "bin" / "bqemulator"),
        "start",
        "--rest-port",
        str(rest_port),
        "--grpc-port",
        str(grpc_port),
        "--project",
        project,
        "--ephemeral",
        "--log-format",
        "console",
        "--log-level",
        "warning",
    ]


def environment() -> dict[str, str]:
    """HOME holds the pre-installed spatial extension; Avro would be fetched from the internet."""
    return {"HOME": str(HOME), "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab5_batch_vs_realtime.bq_emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create the emulator's venv (idempotent)")
    p = sub.add_parser("run", help="set up if needed, then run the emulator in the foreground")
    p.add_argument("--port", type=int, default=9050, help="REST port (LAB5_BQ_ENDPOINT)")
    p.add_argument("--grpc-port", type=int, default=9060)
    args = parser.parse_args(argv)
    setup(quiet=False)
    if args.command == "setup":
        print(f"BigQuery emulator ready in {VENV}")
        return 0
    print(
        f"BigQuery emulator on http://127.0.0.1:{args.port} — in another shell:\n"
        f"  export LAB5_BQ_ENDPOINT=http://127.0.0.1:{args.port} LAB5_BQ_PROJECT=course-lab5",
        flush=True,
    )
    cmd = command(args.port, args.grpc_port)
    os.execve(cmd[0], cmd, {**os.environ, **environment()})
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
