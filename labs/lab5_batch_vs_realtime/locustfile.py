"""Locust load for lab 5's real-time service (`make load-5 PORT=...`).

Most users hit the A/B route with their own sticky customer id; some pin a version with the
header; a few go through the tenant routes (run `make tenants-5` first for those to be 200s).
"""

from __future__ import annotations

import random

from locust import HttpUser, between, task

from course_models.tabular import example_record

RECORD = example_record(version=2)
TENANTS = ("acme", "globex", "initech")


class ChurnUser(HttpUser):
    wait_time = between(0.0, 0.05)

    def on_start(self) -> None:
        self.entity = f"customer-{random.randrange(1_000_000)}"

    def _body(self) -> dict:
        features = dict(RECORD, tenure_months=random.randrange(73))
        return {"entity_id": self.entity, "features": features}

    @task(8)
    def ab(self) -> None:
        self.client.post("/predict", json=self._body(), name="/predict [ab]")

    @task(1)
    def pinned(self) -> None:
        self.client.post(
            "/predict", json=self._body(), headers={"X-Model-Version": "1"}, name="/predict [v1]"
        )

    @task(1)
    def tenant(self) -> None:
        tenant = random.choice(TENANTS)
        self.client.post(
            f"/tenants/{tenant}/predict", json=self._body(), name="/tenants/[t]/predict"
        )
