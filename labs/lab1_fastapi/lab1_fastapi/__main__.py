"""Deployment: ``python -m lab1_fastapi`` (what ``make lab-1`` runs) starts uvicorn.

Every setting comes from ``LAB1_*`` variables; the flags below only override them for this run.
The uvicorn command line comes from ``server.command`` (the one the benchmark and the tests
run); this process prints where to look and then becomes that command (``exec``), so Ctrl-C and
signals go straight to uvicorn. Workers are processes, each loading its own models.
"""

from __future__ import annotations

import argparse
import os

from course_models.procs import pick_port as preferred_or_free
from lab1_fastapi import server
from lab1_fastapi.settings import PREDICT_MODES, SCORING_MODES, Settings

PREFERRED_PORT = 8000


def pick_port(settings: Settings) -> int:
    """LAB1_PORT when set, else 8000 when free (docs and muscle memory), else any free port."""
    return settings.port or preferred_or_free(PREFERRED_PORT, settings.host)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab1_fastapi", description=__doc__)
    parser.add_argument("--port", type=int, help="LAB1_PORT (0 = 8000 if free, else any)")
    parser.add_argument("--workers", type=int, help="LAB1_WORKERS")
    parser.add_argument("--mode", choices=PREDICT_MODES, help="LAB1_PREDICT_MODE")
    parser.add_argument("--scoring", choices=SCORING_MODES, help="LAB1_SCORING")
    args = parser.parse_args(argv)
    overrides = {
        "port": args.port,
        "workers": args.workers,
        "predict_mode": args.mode,
        "scoring": args.scoring,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    port = pick_port(settings)
    argv_, env = server.command(settings, port)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{shown}:{port}"
    print(
        f"Lab 1 serving {settings.model_name} v{settings.model_versions} "
        f"(default v{settings.default_version}, mode={settings.predict_mode}, "
        f"scoring={settings.scoring}, workers={settings.workers})\n"
        f"  URL:  {url}\n  docs: {url}/docs\n  try:  curl -s {url}/ready",
        flush=True,
    )
    os.execve(argv_[0], argv_, {**os.environ, **env})


if __name__ == "__main__":
    main()
