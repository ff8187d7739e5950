"""`make lab-2`: redis-server (unless one already answers), a Celery worker and gunicorn,
in the foreground. Ctrl-C stops all three.

    python -m lab2_flask_celery.run            # settings from LAB2_* (see settings.py)
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from course_models.procs import free_port, port_is_free, stop
from lab2_flask_celery.services import redis_ping, start_gunicorn, start_redis, start_worker
from lab2_flask_celery.settings import Settings


def main() -> int:
    s = Settings()
    logs = Path(tempfile.mkdtemp(prefix="lab2-"))
    env = {k: v for k, v in os.environ.items() if k.startswith("LAB2_")}
    procs = []
    try:
        if redis_ping(s.redis_url):
            print(f"using the Redis already answering at {s.redis_url}")
        else:
            wanted = urlparse(s.redis_url).port or 6379
            port = wanted if port_is_free(wanted) else free_port()
            print(f"starting redis-server on port {port} (append-only file in {logs / 'redis'})")
            procs.append(start_redis(port, logs / "redis", persist=True))
            env["LAB2_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        print("starting a Celery worker ...")
        procs.append(start_worker(env, logs / "worker.log", concurrency=1, nice=10))
        port = s.port if port_is_free(s.port) else free_port()
        print("starting gunicorn ...")
        procs.append(start_gunicorn(env, port, logs / "gunicorn.log"))
        base = f"http://127.0.0.1:{port}"
        print(
            f"\nLab 2 is up (variant={s.variant}, {s.gunicorn_options()}).\n"
            f"  health   {base}/health     ready {base}/ready\n"
            f"  predict  curl -s -XPOST -H 'Content-Type: application/json' "
            f"-d @- {base}/predict < labs/lab2_flask_celery/example.json\n"
            f"  explain  POST {base}/explain   (synchronous, seconds)\n"
            f"  jobs     POST {base}/jobs/explain -> 202 + Location; GET {base}/jobs/<id>\n"
            f"  load     make load-2 PORT={port}\n"
            f"  logs     {logs}/gunicorn.log  {logs}/worker.log\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        print("a process exited; see the logs above. Stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...")
        return 0
    finally:
        for proc in reversed(procs):
            stop(proc)


if __name__ == "__main__":
    sys.exit(main())
