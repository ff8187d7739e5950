"""`make k8s-validate` as tests: every overlay builds and validates offline, the validator
rejects what a cluster would reject, and the generated or copied files are not stale."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
VALIDATE = REPO / "deploy" / "validate.py"
K8S = REPO / "deploy" / "k8s"


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def render(overlay: str) -> list[dict]:
    assert shutil.which("kubectl"), "kubectl missing: https://kubernetes.io/docs/tasks/tools/"
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def find(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


@pytest.fixture(scope="module")
def cluster() -> list[dict]:
    return render("cluster")


def test_every_overlay_builds_and_validates():
    result = run(str(VALIDATE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all valid" in result.stdout
    assert "cluster:" in result.stdout and "local:" in result.stdout


def rejected(tmp_path: Path, objects: list[dict]) -> str:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    result = run(str(VALIDATE), "--file", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr


def test_validator_rejects_a_misspelled_kserve_field(tmp_path, cluster):
    isvc = copy.deepcopy(find(cluster, "InferenceService", "lab5-churn"))
    isvc["spec"]["predictor"]["canaryTrafficPercentage"] = 10
    assert "canaryTrafficPercentage" in rejected(tmp_path, [isvc])


def test_validator_rejects_argo_v3_schedule_field(tmp_path, cluster):
    """Argo v4 removed `spec.schedule` (a string) for `spec.schedules` (a list)."""
    cron = copy.deepcopy(find(cluster, "CronWorkflow", "lab5-batch"))
    cron["spec"]["schedule"] = cron["spec"].pop("schedules")[0]
    message = rejected(tmp_path, [cron])
    assert "schedule" in message


def test_validator_rejects_bad_core_objects(tmp_path, cluster):
    deployment = copy.deepcopy(find(cluster, "Deployment", "lab1-api"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = (
        8000.5
    )
    hpa = copy.deepcopy(find(cluster, "HorizontalPodAutoscaler", "lab1-api"))
    hpa["spec"]["targetCPUUtilizationPercentage"] = 70  # autoscaling/v1 field in a v2 object
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "lab5-s3"}}
    message = rejected(tmp_path, [deployment, hpa, secret])
    assert "Deployment/lab1-api" in message
    assert "targetCPUUtilizationPercentage" in message
    assert "Secrets are never committed" in message


def test_lab1_has_the_production_settings(cluster):
    deployment = find(cluster, "Deployment", "lab1-api")
    pod = deployment["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert "startupProbe" in api and "preStop" in api["lifecycle"]
    assert api["resources"]["requests"]["cpu"] and api["resources"]["limits"]["memory"]
    assert find(cluster, "PodDisruptionBudget", "lab1-api")["spec"]["minAvailable"] == 1
    hpa = find(cluster, "HorizontalPodAutoscaler", "lab1-api")
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_no_secret_values_only_references(cluster):
    text = yaml.safe_dump_all(cluster)
    assert "kind: Secret\n" not in text
    refs = [line.strip() for line in text.splitlines() if "secretKeyRef" in line]
    assert refs, "lab 5's S3 credentials should come from secretKeyRef"
    assert "minioadmin" not in text


def test_argo_workflow_yaml_is_generated_from_hera():
    result = run("deploy/argo/lab5_batch.py", "--check")
    assert result.returncode == 0, result.stderr


def test_lab4_configmap_files_match_the_lab():
    for name in ("models.config", "monitoring.config"):
        copied = (K8S / "base" / "lab4" / name).read_text()
        assert copied == (REPO / "labs" / "lab4_tf_serving" / name).read_text(), name
