"""Lab 1's Kubernetes manifests run for real on one machine: `podman kube play` of the
`local` overlay's lab 1 objects (Deployment, Service, HPA, PDB: podman runs the Deployment
and ignores the kinds it has no engine for), with the container port published on a free
host port; /ready must answer 200 and a prediction must be right; then `podman kube down`.

Needs podman (`bash ../shared/tools/podman-setup.sh`); the lab 1 image is built here FROM the
local base image when there is one (no registry on the course machines).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from course_models import procs
from course_models.tabular import example_record

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/course-lab1:latest"  # what the local overlay's `images:` names
LOCAL_BASE = "localhost/debian-base:bookworm"


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def lab1_image():
    assert shutil.which("podman"), "podman missing: bash ../shared/tools/podman-setup.sh"
    build_args = []
    if podman("image", "exists", LOCAL_BASE).returncode == 0:
        build_args = ["--build-arg", f"BASE_IMAGE={LOCAL_BASE}"]
    built = podman(
        "build", *build_args, "-f", "docker/lab1.Dockerfile", "-t", IMAGE, str(REPO),
        timeout=1500,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return IMAGE


def lab1_objects(host_port: int) -> list[dict]:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy" / "k8s" / "overlays" / "local")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    objects = [
        d for d in yaml.safe_load_all(rendered.stdout) if d and d["metadata"]["name"] == "lab1-api"
    ]
    assert {o["kind"] for o in objects} == {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"
    }  # fmt: skip
    for obj in objects:
        if obj["kind"] == "Deployment":
            (container,) = obj["spec"]["template"]["spec"]["containers"]
            assert container["image"] == IMAGE
            # What a NodePort/Ingress does in a cluster: here a port on the host's loopback.
            container["ports"][0].update(hostPort=host_port, hostIP="127.0.0.1")
    return objects


def test_kube_play_lab1(lab1_image, tmp_path):
    port = procs.free_port()
    manifest = tmp_path / "lab1.yaml"
    manifest.write_text(yaml.safe_dump_all(lab1_objects(port)))
    played = podman("kube", "play", str(manifest))
    assert played.returncode == 0, played.stdout + played.stderr
    base = f"http://127.0.0.1:{port}"
    try:
        procs.wait_until(
            lambda: httpx.get(f"{base}/ready", timeout=5).status_code == 200,
            180,
            what="lab 1 pod /ready through the published port",
        )
        risky = dict(
            example_record(2), tenure_months=1, contract="month-to-month", support_calls=12,
            monthly_charges=140.0, payment_method="electronic-check", satisfaction_score=1.0,
        )  # fmt: skip
        loyal = dict(
            example_record(2), tenure_months=70, contract="two-year", support_calls=0,
            monthly_charges=20.0, payment_method="credit-card", satisfaction_score=5.0,
        )  # fmt: skip
        response = httpx.post(
            f"{base}/v2/churn/predict", json={"instances": [risky, loyal]}, timeout=30
        )
        assert response.status_code == 200, response.text
        p_risky, p_loyal = (p["churn_probability"] for p in response.json()["predictions"])
        assert p_risky > 0.9 and p_loyal < 0.1, response.json()
        labels = [p["label"] for p in response.json()["predictions"]]
        assert labels == ["churns", "stays"], labels
    finally:
        down = podman("kube", "down", str(manifest))
        assert down.returncode == 0, down.stdout + down.stderr
    left = podman("pod", "ps", "--format", "{{.Name}}")
    assert "lab1-api" not in left.stdout, left.stdout
