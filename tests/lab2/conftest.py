"""Lab 2 fixtures: a Flask test client, and real redis-server / Celery / gunicorn processes on
free ports (``lab2_flask_celery.services.Stack``, always stopped, even when a test fails).

Starting gunicorn or a Celery worker costs seconds (imports, the model), so each configuration
the checks need is started ONCE per session and shared by every check that can use it
(``SERVED``). They start in background threads as soon as the collected tests show which
ones are needed, and a check waits only for its own. The service the graded specifications
talk to is ``LAB2_URL`` when set, else the ``main`` one, started from the code under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from course_models.procs import free_port, start, stop
from course_models.tabular import example_record
from lab2_flask_celery.app import create_app
from lab2_flask_celery.chaos import FAST, SLOW, pool_child_kill, redis_restart, worker_sigkill
from lab2_flask_celery.services import Stack

# Small and fast for in-process checks; integration checks raise it where they need a slow job.
FAST_SETTINGS = {"explain_permutations": 6, "explain_background": 4}
HEAVY_EXPLAIN = {"LAB2_EXPLAIN_PERMUTATIONS": "3000", "LAB2_EXPLAIN_BACKGROUND": "8"}


@dataclass
class Served:
    """One running configuration: its stack (logs, redis, workers) and gunicorn's URL."""

    stack: Stack
    base: str

    @property
    def log(self) -> Path:
        return self.stack.tmp / "gunicorn.log"

    @property
    def worker_log(self) -> Path:
        return self.stack.tmp / "worker.log"


def no_model(stack: Stack) -> dict[str, str]:
    """A worker whose model folder is empty: every job meets ArtifactNotFound (the web side
    keeps the model, so gunicorn is ready and stamps the usual limits)."""
    empty = stack.tmp / "no-artifacts"
    empty.mkdir(exist_ok=True)
    return {"LAB2_ARTIFACTS_DIR": str(empty), "LAB2_TASK_MAX_RETRIES": "1"}


@dataclass(frozen=True)
class Config:
    env: dict[str, str]
    redis: bool = False
    persist: bool = False
    worker: bool = False
    worker_env: Callable[[Stack], dict[str, str]] | None = None


# The web app stamps the task time limits into each message, so a configuration that changes
# them changes gunicorn's environment as well as the worker's.
SERVED: dict[str, Config] = {
    # redis + a Celery worker + gunicorn: the graded HTTP checks, the locustfile, job polling.
    "main": Config(FAST, redis=True, worker=True),
    # Task 2.3's configurations, as a student would set them.
    "sync3": Config(
        {
            **FAST,
            "LAB2_WORKERS": "3",
            "LAB2_WORKER_CLASS": "sync",
            "LAB2_EXPLAIN_PERMUTATIONS": "60",
        }
    ),
    # One gthread worker, serving model version 1 (the worker-class and version checks).
    "gthread_v1": Config(
        {
            **FAST,
            "LAB2_WORKERS": "1",
            "LAB2_WORKER_CLASS": "gthread",
            "LAB2_THREADS": "4",
            "LAB2_MODEL_VERSION": "1",
        }
    ),
    # The short_timeout variant without the app's deadline (gunicorn kills the worker) ...
    "short_timeout": Config(
        {**FAST, **HEAVY_EXPLAIN, "LAB2_VARIANT": "short_timeout", "LAB2_DEADLINE_GUARD": "false"}
    ),
    # ... and with it (the app answers 504 first).
    "short_guarded": Config({**FAST, **HEAVY_EXPLAIN, "LAB2_VARIANT": "short_timeout"}),
    # Two sync workers on a Redis nobody consumes: worker kills, metrics, queue depth.
    "two_sync": Config({**FAST, "LAB2_WORKERS": "2", "LAB2_WORKER_CLASS": "sync"}, redis=True),
    # Task 2.4: a worker without its model (retries), and a 0.5 s soft time limit.
    "missing_model": Config(FAST, redis=True, worker=True, worker_env=no_model),
    "soft_limit": Config(
        {
            **FAST,
            "LAB2_EXPLAIN_PERMUTATIONS": "5000",
            "LAB2_TASK_SOFT_TIME_LIMIT": "0.5",
            "LAB2_TASK_TIME_LIMIT": "10",
        },
        redis=True,
        worker=True,
    ),
    # Redis (append-only file) + gunicorn, one per chaos experiment (its workers are its own).
    "sigkill": Config(SLOW, redis=True, persist=True),
    "pool": Config(SLOW, redis=True, persist=True),
    "restart": Config(SLOW, redis=True, persist=True),
}
# The fault experiments (lab2_flask_celery.chaos), each run once on its own stack, in the
# background; the graded check and the chaos test of the same fault assert on one outcome.
RUNS: dict[str, tuple[str, Callable[[Served], dict]]] = {
    "sigkill_outcome": ("sigkill", lambda s: worker_sigkill(s.stack, s.base, timeout=60)),
    "pool_kill_outcome": (
        "pool",
        lambda s: pool_child_kill(s.stack, s.base, queued=2, timeout=60),
    ),
    "restart_outcome": (
        "restart",
        lambda s: redis_restart(s.stack, s.base, n_jobs=8, down=2.0, timeout=90),
    ),
}


class Servers:
    """The session's shared servers and experiments, each started at most once, in
    background threads (servers: three at a time; experiments wait for their server)."""

    def __init__(self, root: Path):
        self.root = root
        self.starter = ThreadPoolExecutor(3, thread_name_prefix="lab2-start")
        self.runner = ThreadPoolExecutor(len(RUNS), thread_name_prefix="lab2-run")
        self.futures: dict[str, Future] = {}
        self.stacks: list[Stack] = []

    def start(self, name: str) -> Future[Served]:
        if name not in self.futures:
            self.futures[name] = self.starter.submit(self._start, name)
        return self.futures[name]

    def get(self, name: str) -> Served:
        return self.start(name).result()

    def run(self, name: str) -> Future[dict]:
        if name not in self.futures:
            server, experiment = RUNS[name]
            self.start(server)
            self.futures[name] = self.runner.submit(self._run, server, experiment)
        return self.futures[name]

    def _start(self, name: str) -> Served:
        config = SERVED[name]
        stack = Stack(self.root / name, **config.env)
        self.stacks.append(stack)
        if config.redis:
            stack.start_redis(persist=config.persist)
        if config.worker:
            stack.start_worker(**(config.worker_env(stack) if config.worker_env else {}))
        _, base = stack.start_gunicorn()
        return Served(stack, base)

    def _run(self, server: str, experiment: Callable[[Served], dict]) -> dict:
        served = self.get(server)
        try:
            return experiment(served)
        finally:
            served.stack.stop_workers()

    def close(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self.runner.shutdown(wait=True)
        self.starter.shutdown(wait=True)
        # Stopping is waiting (warm shutdowns, interpreter exits): all stacks at once, the
        # workers first while their Redis is still up.
        with ThreadPoolExecutor(max(1, len(self.stacks))) as stopper:
            list(stopper.map(Stack.stop_workers, self.stacks))
            list(stopper.map(Stack.close, self.stacks))


@pytest.fixture(scope="session")
def servers(tmp_path_factory, trained_artifacts, request) -> Iterator[Servers]:
    s = Servers(tmp_path_factory.mktemp("lab2-servers"))
    try:
        yield s
    finally:
        s.close()
        if request.session.testsfailed:
            for stack in s.stacks:
                print(f"=== {stack.tmp.name}\n{stack.dump_logs(15)}")


# Session fixtures that start a background process the moment they are created.
BACKGROUND = ("gil_demo_spawn",)


@pytest.fixture(scope="session", autouse=True)
def _start_early(request) -> None:
    """Start, in the order the tests first use them, the servers, experiments and background
    runs this session needs, so their start-up overlaps the checks that run first."""
    skip = {"lab2_url"} if os.environ.get("LAB2_URL") else set()
    used = [f for item in request.session.items for f in item.fixturenames if f not in skip]
    for name in dict.fromkeys(f for f in used if f in BACKGROUND):
        request.getfixturevalue(name)
    wanted = list(dict.fromkeys(f for f in used if f in SERVED or f in RUNS or f == "lab2_url"))
    if wanted:
        servers: Servers = request.getfixturevalue("servers")
        for name in wanted:
            if name in RUNS:
                servers.run(name)
            else:
                servers.start("main" if name == "lab2_url" else name)


@pytest.fixture(scope="session")
def gil_demo_spawn(
    tmp_path_factory, trained_artifacts
) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    """The GIL demo with the spawn start method (macOS's default), at the smallest sizes."""
    folder = tmp_path_factory.mktemp("gil")
    report, log = folder / "gil.json", folder / "gil.log"
    cmd = [
        sys.executable, "-m", "lab2_flask_celery.gil_demo", "--jobs", "2",
        "--start-method", "spawn", "--permutations", "2", "--rows", "2000", "--sleep", "0.1",
        "--report", str(report),
    ]  # fmt: skip
    proc = start(cmd, log=log)
    try:
        yield proc, report, log
    finally:
        stop(proc)


def served_fixture(config: str) -> Callable[..., Served]:
    @pytest.fixture(scope="session", name=config)
    def _served(servers: Servers) -> Served:
        return servers.get(config)

    return _served


def run_fixture(name: str) -> Callable[..., dict]:
    @pytest.fixture(scope="session", name=name)
    def _outcome(servers: Servers) -> dict:
        return servers.run(name).result()

    return _outcome


main = served_fixture("main")
sync3 = served_fixture("sync3")
gthread_v1 = served_fixture("gthread_v1")
short_timeout = served_fixture("short_timeout")
short_guarded = served_fixture("short_guarded")
two_sync = served_fixture("two_sync")
missing_model = served_fixture("missing_model")
soft_limit = served_fixture("soft_limit")
sigkill = served_fixture("sigkill")
pool = served_fixture("pool")
restart = served_fixture("restart")
sigkill_outcome = run_fixture("sigkill_outcome")
pool_kill_outcome = run_fixture("pool_kill_outcome")
restart_outcome = run_fixture("restart_outcome")


@pytest.fixture(scope="session")
def lab2_url(request) -> str:
    """The service under test: ``LAB2_URL`` (a running lab), else redis + a Celery worker +
    gunicorn started from the code in this checkout."""
    given = os.environ.get("LAB2_URL")
    if given:
        return given.rstrip("/")
    return request.getfixturevalue("main").base


@pytest.fixture(scope="session")
def record(trained_artifacts) -> dict:
    return example_record(2)


@pytest.fixture(scope="session")
def app(trained_artifacts):
    return create_app({**FAST_SETTINGS, "redis_url": f"redis://127.0.0.1:{free_port()}/0"})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def stack(tmp_path, trained_artifacts, request) -> Iterator[Stack]:
    """A private stack, for checks that restart or kill what others would share."""
    s = Stack(tmp_path, **FAST)
    try:
        yield s
    finally:
        s.close()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(s.dump_logs())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
