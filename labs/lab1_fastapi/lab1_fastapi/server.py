"""The one way lab 1's server is started: ``make lab-1``, the benchmark and the tests all run
the command line built here, so what students run is what is measured and graded.

Settings reach uvicorn's worker processes through ``LAB1_*`` variables (each worker calls
``create_app()`` and reads them); the command line carries only what uvicorn itself needs.
"""

from __future__ import annotations

import json
import sys

from lab1_fastapi.settings import Settings

APP = "lab1_fastapi.app:create_app"


def environment(settings: Settings) -> dict[str, str]:
    """``LAB1_*`` variables that reproduce ``settings`` in every worker."""
    env = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        env[f"LAB1_{name.upper()}"] = text
    return env


def command(settings: Settings, port: int) -> tuple[list[str], dict[str, str]]:
    """(argv, env) for uvicorn serving lab 1 with these settings on ``port``."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        APP,
        "--factory",
        "--host",
        settings.host,
        "--port",
        str(port),
        "--workers",
        str(settings.workers),
        "--log-level",
        settings.log_level,
        "--access-log" if settings.access_log else "--no-access-log",
    ]
    return argv, {**environment(settings), "LAB1_PORT": str(port)}
