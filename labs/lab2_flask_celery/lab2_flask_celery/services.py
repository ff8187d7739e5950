"""Start the lab's three processes (redis-server, a Celery worker, gunicorn) and stop them.

Used by `make lab-2`, the diagnose script and the tests, so all three start them the same
way. Every process gets its own process group (course_models.procs) so stopping it also
stops its children (gunicorn workers, Celery pool processes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import redis

from course_models.procs import free_port, start, stop, tail, wait_http, wait_until

LAB_DIR = Path(__file__).resolve().parents[1]
GUNICORN_CONF = LAB_DIR / "gunicorn.conf.py"
WSGI_APP = "lab2_flask_celery.wsgi:app"
CELERY_APP = "lab2_flask_celery.celery_worker"


def platform_env() -> dict[str, str]:
    """macOS aborts a forked child that touches Objective-C runtime state set up before the
    fork (gunicorn preload_app, Celery's prefork pool) unless this is set."""
    return {"OBJC_DISABLE_INITIALIZE_FORK_SAFETY": "YES"} if sys.platform == "darwin" else {}


def gunicorn_command() -> list[str]:
    """The one gunicorn command line (make lab-2, the diagnosis, the benchmark, the tests)."""
    return [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), WSGI_APP]


def worker_command(concurrency: int = 1, nice: int = 0, name: str | None = None) -> list[str]:
    """The one Celery worker command line (prefork pool). ``nice`` lowers its CPU priority."""
    name = name or f"lab2-{uuid.uuid4().hex[:8]}@%h"
    return [
        *(["nice", "-n", str(nice)] if nice else []),
        sys.executable, "-m", "celery", "-A", CELERY_APP, "worker",
        "--loglevel=INFO", "--pool=prefork", f"--concurrency={concurrency}", "-n", name,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip


def redis_server_path() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        raise FileNotFoundError("redis-server not found: sudo apt-get install -y redis-server")
    return found


def redis_ping(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def start_redis(
    port: int, workdir: str | Path, persist: bool = False, timeout: float = 20.0
) -> subprocess.Popen:
    """A private redis-server. ``persist`` turns on the append-only file (fsync each second),
    which is what lets queued jobs survive a restart."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        redis_server_path(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(workdir),
        "--save", "",
        "--appendonly", "yes" if persist else "no",
    ]  # fmt: skip
    proc = start(cmd, log=workdir / "redis.log")
    url = f"redis://127.0.0.1:{port}/0"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited: see {workdir / 'redis.log'}")
        return redis_ping(url)

    wait_until(up, timeout, 0.1, f"redis-server on port {port}")
    return proc


def start_worker(
    env: dict[str, str],
    log: str | Path,
    concurrency: int = 1,
    timeout: float = 60.0,
    nice: int = 0,
) -> subprocess.Popen:
    """A Celery worker (prefork pool) and wait until it logs that it is ready.

    ``nice`` lowers its CPU priority: on a machine shared with the web server, background
    work should yield the CPU to requests someone is waiting for. (In production the
    workers usually run on other machines, which is the whole point of offloading.)
    """
    Path(log).write_text("")
    proc = start(worker_command(concurrency, nice), env={**platform_env(), **env}, log=log)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited with {proc.returncode}: see {log}")
        return " ready." in Path(log).read_text(errors="replace")

    wait_until(ready, timeout, 0.2, "the Celery worker")
    return proc


def stop_worker(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Warm shutdown: SIGTERM to the worker's main process only, so the pool finishes (and
    acknowledges) the job in hand. SIGTERM to the whole group would kill the pool process
    mid-job, and ``reject_on_worker_lost`` would requeue that job for the next worker."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    stop(proc)  # anything left of its group


def start_gunicorn(
    env: dict[str, str], port: int, log: str | Path, timeout: float = 90.0
) -> subprocess.Popen:
    """gunicorn with gunicorn.conf.py, settings from ``env``; waits for /ready."""
    env = {**platform_env(), **env, "LAB2_PORT": str(port)}
    proc = start(gunicorn_command(), env=env, log=log)
    wait_http(f"http://127.0.0.1:{port}/ready", timeout=timeout, proc=proc)
    return proc


class Stack:
    """redis-server, Celery workers and gunicorn of one experiment or test, on free ports.

    ``env`` is what every child sees; ``settings()`` is the same configuration for an
    in-process ``create_app``. ``close()`` stops everything, children included.
    """

    def __init__(self, workdir: str | Path, **env: str):
        self.tmp = Path(workdir)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        self.redis_dir = self.tmp / "redis"
        self.env: dict[str, str] = {"LAB2_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0"}
        self.env.update(env)
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self.redis: subprocess.Popen | None = None

    def settings(self, **env: str) -> dict[str, object]:
        """``self.env`` (plus ``LAB2_*`` overrides) as ``Settings``/``create_app`` keywords."""
        merged = {**self.env, **env}.items()
        return {k.removeprefix("LAB2_").lower(): v for k, v in merged if k.startswith("LAB2_")}

    def start_redis(self, persist: bool = False) -> subprocess.Popen:
        self.redis = start_redis(self.redis_port, self.redis_dir, persist=persist)
        self.procs.append(self.redis)
        return self.redis

    def stop_redis(self) -> None:
        """SIGTERM: Redis writes its append-only file and exits, as on a normal restart."""
        if self.redis is not None:
            stop(self.redis)

    def start_worker(self, name: str = "worker", **env: str) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        proc = start_worker({**self.env, **env}, log)
        self.procs.append(proc)
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        """Stop the Celery workers only: a shared stack keeps its redis and gunicorn."""
        for proc in self.workers:
            stop_worker(proc)
        self.procs = [p for p in self.procs if p not in self.workers]
        self.workers.clear()

    def start_gunicorn(self, name: str = "gunicorn", **env: str) -> tuple[subprocess.Popen, str]:
        port = free_port()
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        proc = start_gunicorn({**self.env, **env}, port, log)
        self.procs.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    def log_count(self, name: str, text: str) -> int:
        """How many times ``text`` appears in the log ``name`` (e.g. gunicorn's boots)."""
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace").count(text) if path.exists() else 0

    def kill_group(self, proc: subprocess.Popen) -> None:
        """SIGKILL a process and all its children: no chance to clean up or requeue."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        self.stop_workers()
        for proc in reversed(self.procs):
            stop(proc)

    def dump_logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {p.name}\n{tail(p, lines)}" for p in self.logs)
