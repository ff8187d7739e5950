"""Locust against lab 4's REST API (the stand-in or the real TF Serving):
``make lab-4`` then ``make load-4 PORT=<its REST port>``. A mix of latest, label and version
requests; one in ten sends 32 digits at once."""

from __future__ import annotations

import random

from locust import HttpUser, between, task

IMAGE = [[round(random.random(), 3) for _ in range(8)] for _ in range(8)]


class DigitsUser(HttpUser):
    wait_time = between(0.01, 0.05)

    @task(6)
    def predict_latest(self):
        self.client.post("/v1/models/digits:predict", json={"instances": [IMAGE]})

    @task(2)
    def predict_canary(self):
        self.client.post(
            "/v1/models/digits/labels/canary:predict",
            json={"instances": [IMAGE]},
            name="/v1/models/digits/labels/[label]:predict",
        )

    @task(1)
    def predict_batch_columnar(self):
        self.client.post(
            "/v1/models/digits/versions/1:predict",
            json={"inputs": {"image": [IMAGE] * 32}},
            name="/v1/models/digits/versions/[v]:predict (32)",
        )

    @task(1)
    def status(self):
        self.client.get("/v1/models/digits")
