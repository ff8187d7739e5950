"""Lab 5's batch as the CronJob runs it and as the Argo CronWorkflow runs it: the commands are
taken from the rendered manifests and executed here (the lab's CLI, no cluster), each into its
own folder; both must write the same `date=YYYY-MM-DD/` partition layout and schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> list[dict]:
    assert shutil.which("kubectl"), "kubectl missing: https://kubernetes.io/docs/tasks/tools/"
    out = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy" / "k8s" / "overlays" / "cluster")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def env_for(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "LAB5_INPUT_URI": str(root / "input"),
        "LAB5_OUTPUT_URI": str(root / "predictions"),
        "LAB5_ROWS_PER_DAY": "3000",
    }


def run(cmd: list[str], root: Path) -> str:
    done = subprocess.run(
        cmd, env=env_for(root), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def layout(root: Path) -> tuple[list[str], list[str], int]:
    files = sorted(str(p.relative_to(root)) for p in (root / "predictions").rglob("*.parquet"))
    table = pq.read_table(root / "predictions")
    return files, sorted(table.schema.names), table.num_rows


def test_cronjob_and_argo_write_the_same_partitions(cluster, tmp_path, trained_artifacts):
    cron = next(o for o in cluster if o["kind"] == "CronJob")
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    run(container["command"], tmp_path / "cronjob")

    workflow = next(o for o in cluster if o["kind"] == "CronWorkflow")["spec"]["workflowSpec"]
    templates = {t["name"]: t for t in workflow["templates"]}
    pick = templates["pick-date"]["script"]
    source = pick["source"].replace("{{workflow.parameters.date}}", "")
    day = run([sys.executable, "-c", source], tmp_path / "argo").strip()
    dag = next(t for t in workflow["templates"] if "dag" in t)["dag"]["tasks"]
    for task in dag:
        if task["name"] == "pick-date":
            continue
        step = templates[task["template"]]["container"]
        args = [a.replace("{{inputs.parameters.date}}", day) for a in step["args"]]
        run([sys.executable, *step["command"][1:], *args], tmp_path / "argo")

    cron_files, cron_columns, cron_rows = layout(tmp_path / "cronjob")
    argo_files, argo_columns, argo_rows = layout(tmp_path / "argo")
    assert cron_files and all(f.startswith(f"predictions/date={day}/") for f in cron_files)
    assert argo_files == cron_files
    assert argo_columns == cron_columns
    assert argo_rows == cron_rows == 3000
