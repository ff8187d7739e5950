"""Mixed traffic for lab 1: mostly single predictions, some batches, some invalid requests.

    make lab-1                      # note the port it prints
    make load-1 PORT=8000 USERS=20 TIME=30s

Invalid requests come from the shared ``contract.hostile_bodies()`` and *must* get the status the
contract gives each (400, 415 or 422); Locust counts them as successes only then, so a server
that starts accepting garbage (or answering 500) shows up as failures.
"""

from __future__ import annotations

import random

from locust import HttpUser, between, task

from course_models.contract import example_record, hostile_bodies

CONTRACTS = ["month-to-month", "one-year", "two-year"]
SERVICES = ["dsl", "fiber", "none"]


def customer(version: int = 2) -> dict:
    record = example_record(version)
    record.update(
        tenure_months=random.randint(0, 72),
        monthly_charges=round(random.uniform(15, 150), 2),
        support_calls=random.randint(0, 20),
        age=random.randint(18, 100),
        contract=random.choice(CONTRACTS),
        internet_service=random.choice(SERVICES),
    )
    if version >= 2 and random.random() < 0.3:
        record.pop("satisfaction_score")  # optional: many customers never answered the survey
    return record


INVALID = hostile_bodies(1)
SMALLEST_BODY_LIMIT = 1024  # LAB1_MAX_BODY_BYTES' lower bound; the server's own may be larger


def expected_statuses(bad) -> set[int]:
    """A body past the server's size limit (deep_nesting is 200 kB) is a 413 before parsing."""
    return {bad.expected_status} | ({413} if len(bad.body) > SMALLEST_BODY_LIMIT else set())


class ChurnClient(HttpUser):
    wait_time = between(0.01, 0.05)

    @task(10)
    def single_v2(self) -> None:
        self.client.post("/v2/churn/predict", json=customer(2), name="/v2 single")

    @task(3)
    def single_v1(self) -> None:
        self.client.post("/v1/churn/predict", json=customer(1), name="/v1 single")

    @task(3)
    def batch(self) -> None:
        body = {"instances": [customer(2) for _ in range(random.randint(2, 32))]}
        self.client.post("/v2/churn/predict", json=body, name="/v2 batch")

    @task(2)
    def invalid(self) -> None:
        bad = random.choice(INVALID)
        with self.client.post(
            "/v1/churn/predict",
            data=bad.body,
            headers={"content-type": bad.content_type},
            name="/v1 invalid",
            catch_response=True,
        ) as response:
            expected = expected_statuses(bad)
            if response.status_code in expected:
                response.success()
            else:
                response.failure(f"{bad.name}: expected {expected}, got {response.status_code}")

    @task(1)
    def health(self) -> None:
        self.client.get("/health")
