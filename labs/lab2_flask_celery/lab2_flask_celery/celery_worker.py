"""Celery entry point: ``celery -A lab2_flask_celery.celery_worker worker``.

Each pool process loads the model once, when it starts (worker_process_init), so the first
task is not slow and a broken artifact shows up in the worker log at once; and it beats a
heartbeat for the task it runs (jobs.Heartbeats), which the status API reads.
"""

from celery.signals import task_postrun, task_prerun, worker_process_init

from lab2_flask_celery.app import create_app
from lab2_flask_celery.jobs import Heartbeats, redis_client
from lab2_flask_celery.service import model_for

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
# The worker, unlike the web app (which answers 503 at once), waits out a Redis restart
# before giving up on storing a result: retries with backoff, about two minutes in all.
celery_app.conf.update(result_backend_always_retry=True, result_backend_max_retries=20)


@worker_process_init.connect
def _load_model(**_: object) -> None:
    model_for(flask_app.config["LAB2_SETTINGS"])


HEARTBEATS = Heartbeats()


@task_prerun.connect
def _start_heartbeat(task_id: str, **_: object) -> None:
    s = flask_app.config["LAB2_SETTINGS"]
    HEARTBEATS.start(task_id, redis_client(flask_app), s.heartbeat_interval)


@task_postrun.connect
def _stop_heartbeat(task_id: str, **_: object) -> None:
    HEARTBEATS.stop(task_id, redis_client(flask_app))
