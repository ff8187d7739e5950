"""Load for lab 2: light /predict users next to heavy /explain users.

    make load-2 PORT=8002                      # light + heavy (synchronous /explain)
    make load-2 PORT=8002 USERS_CLASSES="LightUser OffloadUser"   # heavy work via Celery

Pick the classes on the command line (locust -f locustfile.py LightUser HeavyUser). Each
class has a fixed user count (LAB2_LOAD_LIGHT / LAB2_LOAD_HEAVY), so every configuration the
diagnose script compares gets exactly the same mix.
"""

from __future__ import annotations

import os
import random
import time

from locust import HttpUser, between, constant, task

from course_models.tabular import example_record

RECORD = example_record(2)
HTTP_TIMEOUT = float(os.environ.get("LAB2_LOAD_TIMEOUT", "30"))


def customer() -> dict:
    return {**RECORD, "tenure_months": random.randint(0, 72), "age": random.randint(18, 90)}


class LightUser(HttpUser):
    """A client of the fast endpoint: what we want to keep snappy."""

    fixed_count = int(os.environ.get("LAB2_LOAD_LIGHT", "4"))
    wait_time = between(0.05, 0.15)

    @task
    def predict(self) -> None:
        self.client.post("/predict", json=customer(), name="/predict", timeout=HTTP_TIMEOUT)


class HeavyUser(HttpUser):
    """Asks for explanations synchronously: each holds a worker (or the GIL) for seconds."""

    fixed_count = int(os.environ.get("LAB2_LOAD_HEAVY", "2"))
    wait_time = constant(0.5)

    @task
    def explain(self) -> None:
        self.client.post("/explain", json=customer(), name="/explain", timeout=HTTP_TIMEOUT)


class OffloadUser(HttpUser):
    """The same heavy work through Celery: submit, then poll until done."""

    fixed_count = int(os.environ.get("LAB2_LOAD_HEAVY", "2"))
    wait_time = constant(0.5)

    @task
    def explain_job(self) -> None:
        started = time.perf_counter()
        with self.client.post(
            "/jobs/explain", json=customer(), name="/jobs/explain", catch_response=True
        ) as response:
            if response.status_code != 202:
                response.failure(f"submit answered {response.status_code}")
                return
            location = response.headers["Location"]
        while time.perf_counter() - started < HTTP_TIMEOUT * 4:
            time.sleep(0.5)
            with self.client.get(location, name="/jobs/[id]", catch_response=True) as poll:
                status = poll.json().get("status") if poll.status_code == 200 else None
                if status in ("success", "failure"):
                    if status == "failure":
                        poll.failure(poll.json().get("error", "job failed"))
                    # The whole job, submit to result, as one pseudo-request in the stats.
                    self.environment.events.request.fire(
                        request_type="JOB",
                        name="explain job (end to end)",
                        response_time=(time.perf_counter() - started) * 1000.0,
                        response_length=len(poll.content),
                        exception=None if status == "success" else RuntimeError(status),
                        context={},
                    )
                    return
                if poll.status_code != 200:
                    poll.failure(f"poll answered {poll.status_code}")
                    return
