"""Deployment: ``python -m lab1_fastapi`` (what ``make lab-1`` runs) starts uvicorn.

Every setting comes from ``LAB1_*`` variables; the flags below only override them for this run.
Workers are separate processes, each calling ``create_app()`` and loading its own models.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from course_models.procs import free_port, port_is_free
from lab1_fastapi.settings import PREDICT_MODES, Settings


def pick_port(settings: Settings) -> int:
    if settings.port:
        return settings.port
    return 8000 if port_is_free(8000, settings.host) else free_port(settings.host)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab1_fastapi", description=__doc__)
    parser.add_argument("--port", type=int, help="LAB1_PORT (0 = 8000 if free, else any)")
    parser.add_argument("--workers", type=int, help="LAB1_WORKERS")
    parser.add_argument("--mode", choices=PREDICT_MODES, help="LAB1_PREDICT_MODE")
    args = parser.parse_args(argv)
    # Through the environment, so uvicorn's worker processes see the same overrides.
    for flag, env in (
        ("port", "LAB1_PORT"),
        ("workers", "LAB1_WORKERS"),
        ("mode", "LAB1_PREDICT_MODE"),
    ):
        if getattr(args, flag) is not None:
            os.environ[env] = str(getattr(args, flag))
    settings = Settings()
    port = pick_port(settings)
    os.environ["LAB1_PORT"] = str(port)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{shown}:{port}"
    print(
        f"Lab 1 serving {settings.model_name} v{settings.model_versions} "
        f"(default v{settings.default_version}, mode={settings.predict_mode}, "
        f"workers={settings.workers})\n  URL:  {url}\n  docs: {url}/docs\n"
        f"  try:  curl -s {url}/ready",
        flush=True,
    )
    uvicorn.run(
        "lab1_fastapi.app:create_app",
        factory=True,
        host=settings.host,
        port=port,
        workers=settings.workers,
        access_log=settings.access_log,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
