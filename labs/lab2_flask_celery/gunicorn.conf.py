"""Gunicorn settings for lab 2, one documented line each. Values come from ``LAB2_*``
environment variables (lab2_flask_celery.settings), so `make lab-2`, the diagnose script and
the tests change them without editing this file.

Run: gunicorn -c labs/lab2_flask_celery/gunicorn.conf.py lab2_flask_celery.wsgi:app
"""

import os
import tempfile
from pathlib import Path

from lab2_flask_celery.settings import Settings

_s = Settings()
_opts = _s.gunicorn_options()  # a broken variant may override workers/class/timeout

# Prometheus multiprocess mode (lab2_flask_celery/metrics.py): every worker writes its samples
# to files in one folder, merged at scrape time. It must be set before prometheus_client is
# imported (preload_app imports the app right after this file), and start empty.
_metrics_dir = Path(_s.metrics_dir or tempfile.mkdtemp(prefix="lab2-metrics-"))
_metrics_dir.mkdir(parents=True, exist_ok=True)
for _stale in _metrics_dir.glob("*.db"):
    _stale.unlink()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["LAB2_METRICS_DIR"] = str(_metrics_dir)

# Address to listen on. 127.0.0.1 keeps the lab off the network; a container uses 0.0.0.0.
bind = f"{_s.host}:{_s.port}"

# BEGIN TASK 2.3: workers, worker class, threads and timeouts from the settings
# Worker *processes*. Each has its own interpreter, its own GIL and its own copy of the
# model, so N workers run N CPU-bound requests truly in parallel (up to the core count).
# The classic starting point is 2 x cores + 1 for I/O-bound apps; for CPU-bound inference,
# about one per core, since more only time-slice the same cores.
workers = _opts["workers"]

# "sync": one request at a time per worker; a slow request blocks that worker entirely.
# "gthread": a thread pool per worker; threads overlap I/O waits, but pure-Python CPU work
# still runs one thread at a time because of the GIL.
worker_class = _opts["worker_class"]

# Threads per worker (gthread only). workers x threads = requests in flight at once.
threads = _opts["threads"]

# Seconds a worker may stay silent before the master kills it (SIGABRT, then SIGKILL) and
# starts a new one. A sync worker is silent for the whole of a request, so this caps request
# duration: a request longer than this dies mid-way and the client sees a dropped
# connection. A gthread worker keeps heartbeating from its main thread, so there it only
# catches a hung process, not a slow request.
timeout = _opts["timeout"]

# On SIGTERM/HUP (deploys, restarts), seconds a worker may finish in-flight requests before
# it is killed. Longer than your slowest normal request, or deploys cut requests off.
graceful_timeout = _s.graceful_timeout
# STUB
# workers = 1  # Task 2.3: read workers, worker_class, threads, timeout, graceful_timeout
# worker_class = "sync"  # from _opts / _s (see the lab README)
# threads = 1
# timeout = 600
# graceful_timeout = 30
# END TASK 2.3

# Seconds an idle keep-alive connection is held open for the next request (behind a load
# balancer, keep it above the balancer's own idle timeout). Sync workers ignore keep-alive.
keepalive = _s.keepalive

# Restart a worker after this many requests (0 = never): a cap on slow memory leaks or
# fragmentation from long-lived native libraries.
max_requests = _s.max_requests

# Random extra 0..jitter requests, so all workers do not restart at the same moment.
max_requests_jitter = _s.max_requests_jitter

# Import the app (and load the model) once in the master, then fork the workers: startup is
# faster and the model's memory pages are shared copy-on-write until a worker writes to them
# (reference counting does write, so the sharing erodes over time). The price: code reloads
# need a full restart, and nothing fork-unsafe (threads, open sockets) may start at import.
preload_app = _s.preload_app

# gunicorn >= 25 opens a control socket at one fixed path per user ($HOME/.gunicorn); several
# servers on one machine (tests, other labs) would fight over it, and we do not use gunicornc.
control_socket_disable = True

# Access log to stderr, in the usual combined format plus the request time in microseconds.
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus pid=%(p)s'


def child_exit(server, worker):
    """A worker exited: tell prometheus_client, so its live gauges stop being merged."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_abort(worker):
    """Called in a worker that the master is killing for exceeding ``timeout`` (SIGABRT)."""
    worker.log.warning(
        "worker %s aborted after %ss without a heartbeat: a request ran longer than the "
        "timeout; raise `timeout` or offload the call to Celery",
        worker.pid,
        timeout,
    )
