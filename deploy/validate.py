"""Offline validation of every kustomize overlay (``make k8s-validate``; run by ``make test``).

    python deploy/validate.py                     # build + validate deploy/k8s/overlays/*
    python deploy/validate.py --file objs.yaml    # validate already-rendered YAML

No cluster is needed. Core kinds are checked with ``kubernetes-validate`` (the published
Kubernetes OpenAPI schemas, strict: an unknown field is an error) for the oldest and the
newest Kubernetes this course supports. KServe and Argo objects are checked against their
CRDs' openAPIV3Schema, vendored in deploy/schemas/ (source and version inside each file),
with Kubernetes' structural-schema rules: fields not in the schema are errors unless the
schema says x-kubernetes-preserve-unknown-fields. Secrets are refused outright: credentials
are created in the cluster, never committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import jsonschema_rs
import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
OVERLAYS = DEPLOY / "k8s" / "overlays"
SCHEMAS = DEPLOY / "schemas"
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")  # oldest supported (CronJob timeZone GA: 1.27)
CRD_SCHEMAS = {  # apiVersion group -> vendored CRD schema file
    "serving.kserve.io": "kserve-inferenceservice.json",
    "argoproj.io": "argo-cronworkflow.json",
}


class Invalid(Exception):
    """One object that does not validate; the message names the object and the field."""


def kustomize(directory: Path) -> list[dict]:
    """Render one kustomization with ``kubectl kustomize`` (the standalone binary as fallback)."""
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(directory)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(directory)]
    else:
        raise SystemExit(
            "k8s-validate needs kubectl (it has kustomize built in) or kustomize on PATH: "
            "https://kubernetes.io/docs/tasks/tools/ — no cluster is needed, only the client"
        )
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if out.returncode != 0:
        raise Invalid(f"{' '.join(cmd)} failed:\n{out.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def structural(schema: dict) -> dict:
    """JSON Schema with Kubernetes' structural rules: no unknown fields, int-or-string."""
    out = dict(schema)
    if "properties" in schema:
        out["properties"] = {k: structural(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = structural(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        out["items"] = structural(schema["items"])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in schema:
            out[key] = [structural(s) for s in schema[key]]
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


@cache
def crd_validator(group: str, version: str) -> jsonschema_rs.Draft7Validator:
    data = json.loads((SCHEMAS / CRD_SCHEMAS[group]).read_text())
    if version not in data["versions"]:
        raise Invalid(f"{group}/{version} is not served by {data['source']}")
    schema = structural(data["versions"][version])
    # metadata is `type: object` in CRDs (the API server checks it as ObjectMeta).
    schema["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
    }
    return jsonschema_rs.Draft7Validator(schema)  # Rust: the Argo schema is 400 kB


def describe(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def validate_object(obj: dict) -> None:
    if obj.get("kind") == "Secret":
        raise Invalid(f"{describe(obj)}: Secrets are never committed; create them in the cluster")
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    if group in CRD_SCHEMAS:
        errors = list(crd_validator(group, version).iter_errors(obj))
        if errors:
            where = "; ".join(
                f"{'.'.join(map(str, e.instance_path)) or '.'}: {e.message}" for e in errors
            )
            raise Invalid(f"{describe(obj)}: {where}")
        return
    for k8s in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, k8s, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(map(str, exc.path)) or "."
            raise Invalid(f"{describe(obj)} (Kubernetes {k8s}): {path}: {exc.message}") from exc
        except kubernetes_validate.SchemaNotFoundError as exc:
            raise Invalid(f"{describe(obj)}: no schema for it in Kubernetes {k8s}") from exc


def validate_all(objects: list[dict], label: str) -> list[str]:
    problems = []
    for obj in objects:
        try:
            validate_object(obj)
        except Invalid as exc:
            problems.append(f"{label}: {exc}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--file", type=Path, help="validate this rendered YAML instead")
    args = parser.parse_args(argv)
    if args.file:
        sources = {str(args.file): [d for d in yaml.safe_load_all(args.file.read_text()) if d]}
    else:
        try:
            sources = {p.name: kustomize(p) for p in sorted(OVERLAYS.iterdir()) if p.is_dir()}
        except Invalid as exc:
            print(exc, file=sys.stderr)
            return 1
    problems = []
    for label, objects in sources.items():
        problems += validate_all(objects, label)
        kinds = Counter(o["kind"] for o in objects)
        print(
            f"{label}: {len(objects)} objects ({', '.join(f'{n} {k}' for k, n in kinds.items())})"
        )
    for problem in problems:
        print(f"INVALID {problem}", file=sys.stderr)
    if not problems:
        print(f"all valid (Kubernetes {' and '.join(KUBERNETES_VERSIONS)}, KServe and Argo CRDs)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
