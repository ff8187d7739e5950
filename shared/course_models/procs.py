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


RETRYABLE: tuple[type[BaseException], ...] = (OSError, httpx.HTTPError)


def pick_port(preferred: int | None, host: str = "127.0.0.1") -> int:
    """The preferred port when it is free (docs and muscle memory), else any free one."""
    return preferred if preferred and port_is_free(preferred, host) else free_port(host)


class ProcessDied(RuntimeError):
    """A child we were waiting for exited; the message names its log so nobody waits 60 s."""


def check_alive(
    proc: subprocess.Popen | None, log: str | Path | None = None, what: str = ""
) -> None:
    if proc is not None and proc.poll() is not None:
        where = f": see {log}" if log else ""
        tail_text = f"\n{tail(log, 15)}" if log else ""
        raise ProcessDied(
            f"{what or proc.args} exited with code {proc.returncode}{where}{tail_text}"
        )


SCALE_ENV = "COURSE_TIMEOUT_SCALE"
MAX_AUTO_SCALE = 8.0


def timeout_scale() -> float:
    """How much longer than on a quiet machine a wait may take: ``$COURSE_TIMEOUT_SCALE``, else
    the run-queue length per CPU (1 when quiet, 3 with two busy loops beside a 2-core run).

    Every wait here is for an event with a deadline, never a fixed sleep, so a larger deadline
    costs nothing when things work and spares a correct lab a failure on a busy machine (a
    class graded in parallel, CI beside another job)."""
    given = os.environ.get(SCALE_ENV)
    if given:
        return max(1.0, float(given))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return min(MAX_AUTO_SCALE, max(1.0, load / (os.cpu_count() or 1)))


def patience(seconds: float) -> float:
    """``seconds`` scaled for this machine's load (``timeout_scale``)."""
    return seconds * timeout_scale()


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    interval: float = 0.2,
    what: str = "",
    proc: subprocess.Popen | None = None,
    log: str | Path | None = None,
    retry_on: tuple[type[BaseException], ...] = RETRYABLE,
) -> None:
    """Poll ``check`` until true. Fails at once if ``proc`` died (naming ``log``); only
    ``retry_on`` errors (connection refused while a server starts) are retried, anything else
    is a bug in the check and propagates. ``timeout`` is a quiet machine's; it is scaled by
    ``timeout_scale()``."""
    timeout = patience(timeout)
    deadline = time.monotonic() + timeout
    while True:
        check_alive(proc, log, what)
        try:
            if check():
                return
        except retry_on:
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or check}")
        time.sleep(interval)


def wait_http(
    url: str,
    timeout: float = 60.0,
    status: int = 200,
    proc: subprocess.Popen | None = None,
    log: str | Path | None = None,
) -> None:
    """Poll ``url`` until it answers ``status``; fail fast if ``proc`` died meanwhile."""
    wait_until(
        lambda: httpx.get(url, timeout=2.0).status_code == status,
        timeout,
        what=f"{url} to answer {status}",
        proc=proc,
        log=log,
    )


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
