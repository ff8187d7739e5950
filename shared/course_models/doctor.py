"""``make doctor``: what this machine has for each lab, and how to fix what is missing.

Runs with the system Python and the standard library only, so it works before ``make setup``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

if __package__:
    from course_models import sysdeps
else:  # run as a script by `make doctor`, before the venv exists: sysdeps.py sits beside it
    import sysdeps

ROOT = Path(__file__).resolve().parents[2]
VENV_PY = ROOT / ".venv" / "bin" / "python"
OK, WARN, BAD = "ok  ", "warn", "MISS"
problems = 0


def line(status: str, what: str, detail: str = "", fix: str = "") -> None:
    global problems
    if status == BAD:
        problems += 1
    print(f"[{status}] {what:<28} {detail}")
    if fix and status != OK:
        print(f"       fix: {fix}")


def run(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def succeeds(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _system_packages() -> None:
    """Java and redis-server, found the way ``make setup`` finds them (sysdeps.py)."""
    java = run(["java", "-version"])
    major = sysdeps.java_version()
    jdk = sysdeps.homebrew_jdk()
    if (major or 0) >= 17:
        line(OK, "java 17 (lab 3)", java.splitlines()[0])
    elif jdk is not None:
        line(
            WARN, "java 17 (lab 3)", f"Homebrew JDK in {jdk}, not on PATH", sysdeps.java_path_hint()
        )
    else:
        line(
            BAD,
            "java 17 (lab 3)",
            java.splitlines()[0] if java else "not found",
            "make setup installs it (apt: openjdk-17-jre-headless; macOS: brew install openjdk@17)",
        )
    redis = shutil.which("redis-server")
    line(
        OK if redis else BAD,
        "redis-server (lab 2)",
        run(["redis-server", "--version"])[:60] if redis else "not found",
        "make setup installs it (apt: redis-server; macOS: brew install redis)",
    )


def main() -> int:
    print(f"Model-serving course doctor — {ROOT}\n")
    v = sys.version_info
    line(
        OK if v[:2] == (3, 11) else BAD,
        "python 3.11",
        sys.version.split()[0],
        "install Python 3.11 and run `make setup PYTHON=python3.11`",
    )
    if VENV_PY.exists():
        full = (ROOT / ".venv" / ".setup-stamp").exists()
        labs = [n for n in range(1, 6) if (ROOT / ".venv" / f".lab{n}-stamp").exists()]
        line(
            OK if full or labs else WARN,
            "venv (.venv)",
            "everything installed" if full else f"labs {labs or 'none'} installed",
            "`make lab-N` adds lab N's packages; `make setup` installs everything",
        )
        probe = run(
            [
                str(VENV_PY),
                "-c",
                "import sklearn, xgboost, pydantic, pandas; print(sklearn.__version__)",
            ]
        )
        line(
            OK if re.match(r"\d", probe) else BAD,
            "core packages",
            probe.splitlines()[-1] if probe else "",
            "run `make clean`, then `make lab-1` (or `make setup`)",
        )
    else:
        line(BAD, "venv (.venv)", "missing", "`make lab-1` (about 1 min) or `make setup` (4 GB)")
    arts = ROOT / "artifacts"
    trained = sorted(
        p.parent.parent.name + "/" + p.parent.name for p in arts.glob("*/*/metadata.json")
    )
    line(
        OK if trained else WARN, "trained models", ", ".join(trained) or "none", "run `make train`"
    )

    _system_packages()
    engine = next(
        (t for t in ("docker", "podman") if shutil.which(t) and succeeds([t, "info"])), None
    )
    line(
        OK if engine else WARN,
        "container engine (up-N)",
        engine or "no running docker/podman",
        "optional: Docker, or on the course machines `bash ../shared/tools/podman-setup.sh`",
    )
    busy = [p for p in (8000, 8080, 8081, 8082, 8500, 8501, 6379, 8089) if not port_free(p)]
    line(
        OK if not busy else WARN,
        "usual ports free",
        "busy: " + ", ".join(map(str, busy)) if busy else "all free",
        "labs pick free ports themselves; set LABn_PORT to choose one",
    )
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    line(OK, "cpus", str(cpus))
    print("\nall good" if not problems else f"\n{problems} problem(s): see the fixes above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
