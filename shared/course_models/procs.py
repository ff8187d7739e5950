"""Starting and stopping real servers from labs, tests and benchmarks.

Ports are picked free at run time (other processes hold fixed ones on shared machines), each
server runs in its own process group so Ctrl-C or a failing test stops everything it spawned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_until(
    check: Callable[[], bool], timeout: float, interval: float = 0.2, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or check}")


def wait_http(
    url: str, timeout: float = 60.0, status: int = 200, proc: subprocess.Popen | None = None
) -> None:
    """Poll ``url`` until it answers ``status``; fail fast if ``proc`` died meanwhile."""

    def ok() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} came up")
        return httpx.get(url, timeout=2.0).status_code == status

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except RuntimeError:
            raise
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer {status} within {timeout:.0f}s")


def venv_bin(name: str) -> str:
    """Path of a console script next to this interpreter (works without the venv activated)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def start(
    cmd: Sequence[str],
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    log: str | Path | None = None,
) -> subprocess.Popen:
    """Start ``cmd`` in a new session (own process group); output to ``log`` or inherited."""
    full_env = {**os.environ, **(env or {})}
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env.get('PATH', '')}"
    out = open(log, "ab") if log else None  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            list(cmd),
            env=full_env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
    finally:
        if out:
            out.close()


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the whole process group, then SIGKILL what is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@contextlib.contextmanager
def running(cmd: Sequence[str], **kwargs) -> Iterator[subprocess.Popen]:
    proc = start(cmd, **kwargs)
    try:
        yield proc
    finally:
        stop(proc)


def tail(path: str | Path, lines: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
