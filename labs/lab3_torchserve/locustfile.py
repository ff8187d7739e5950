"""Locust load for lab 3: held-out digits as JSON, some as PNG (``make load-3 PORT=<inference>``).

Run it while watching the batch histogram:  curl -s http://127.0.0.1:<metrics>/metrics |
grep DigitsBatchSize  — then re-register with another batch_size and compare.
"""

from __future__ import annotations

import random

from locust import HttpUser, between, task

from course_models.datasets import load_digits_split
from lab3_torchserve.client import digit_png

_, X_TEST, _, Y_TEST = load_digits_split()
PIXELS = [x.ravel().round(4).tolist() for x in X_TEST]
PNGS = [digit_png(x) for x in X_TEST[:50]]


class DigitsUser(HttpUser):
    wait_time = between(0.0, 0.01)

    @task(9)
    def predict_json(self) -> None:
        self.client.post("/predictions/digits_cnn", json=random.choice(PIXELS), name="json")

    @task(1)
    def predict_png(self) -> None:
        self.client.post(
            "/predictions/digits_cnn",
            data=random.choice(PNGS),
            headers={"Content-Type": "image/png"},
            name="png",
        )
