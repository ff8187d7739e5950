"""Model artifacts on disk: ``<root>/<name>/<version>/`` with the model file and ``metadata.json``.

The loader refuses what it cannot trust, with a message naming the file and the problem:
a missing artifact, a model file whose sha256 differs from the one recorded at training time,
or library versions that differ from those the model was trained with (pickled sklearn/XGBoost
models are not guaranteed to load or predict the same across versions). Serving labs turn these
errors into a 503 on ``/ready`` instead of crash-looping or serving a half-loaded model.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from course_models.artifact_types import (
    ArtifactCorrupt,
    ArtifactError,
    ArtifactNotFound,
    ArtifactVersionMismatch,
    LoadedArtifact,
    ScorerMismatch,
)
from course_models.scoring import attach_checked_scorer

__all__ = [
    "ArtifactCorrupt",
    "ArtifactError",
    "ArtifactNotFound",
    "ArtifactVersionMismatch",
    "LoadedArtifact",
    "ScorerMismatch",
    "artifacts_root",
    "latest_version",
    "list_artifacts",
    "load_artifact",
    "verify_artifact",
]

METADATA_FILE = "metadata.json"
ENV_ROOT = "COURSE_ARTIFACTS_DIR"

# import name -> how to read its version; only libraries a model's bytes depend on are checked.
FRAMEWORK_LIBRARIES: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn", "numpy"),
    "xgboost": ("sklearn", "xgboost", "numpy"),
    "torch": ("torch",),
    "keras": ("tensorflow", "keras"),
    "transformers": ("torch", "transformers", "tokenizers"),
}


def repo_root() -> Path | None:
    """The source checkout this package lives in (editable install), if any."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "labs").is_dir():
            return parent
    return None


def artifacts_root(root: str | Path | None = None) -> Path:
    """Where artifacts live: argument, then ``$COURSE_ARTIFACTS_DIR``, then ``<repo>/artifacts``."""
    if root is not None:
        return Path(root)
    if os.environ.get(ENV_ROOT):
        return Path(os.environ[ENV_ROOT])
    checkout = repo_root()
    return (checkout / "artifacts") if checkout else Path.cwd() / "artifacts"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def _distribution(module: str) -> str:
    """The installed distribution that provides an import name (sklearn -> scikit-learn)."""
    names = importlib.metadata.packages_distributions().get(module) or [module]
    return min(names, key=lambda dist: (dist.lower().replace("_", "-") != module, dist))


def library_versions(framework: str) -> dict[str, str]:
    """Installed versions from package metadata: no import, so checking an artifact neither
    starts TensorFlow (and its native log lines) nor costs seconds."""
    versions = {}
    for name in FRAMEWORK_LIBRARIES[framework]:
        try:
            version = importlib.metadata.version(_distribution(name))
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        versions[name] = version.split("+")[0]
    return versions


def save_metadata(directory: Path, model_file: str, framework: str, **fields: Any) -> dict:
    """Write metadata.json next to an already written model file and return it."""
    meta = {
        "name": fields.pop("name"),
        "version": int(fields.pop("version")),
        "framework": framework,
        "model_file": model_file,
        "sha256": sha256_file(directory / model_file),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "libraries": library_versions(framework),
        "python": platform.python_version(),
        **fields,
    }
    (directory / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    return meta


def list_versions(name: str, root: str | Path | None = None) -> list[int]:
    base = artifacts_root(root) / name
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def latest_version(name: str, root: str | Path | None = None) -> int:
    versions = list_versions(name, root)
    if not versions:
        raise ArtifactNotFound(
            f"no versions of model {name!r} under {artifacts_root(root) / name} (run `make train`)",
            artifacts_root(root) / name,
        )
    return versions[-1]


def list_artifacts(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Metadata of every artifact under root (unverified), sorted by name and version."""
    base = artifacts_root(root)
    found = []
    for meta_path in sorted(base.glob(f"*/*/{METADATA_FILE}")):
        try:
            found.append(json.loads(meta_path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(found, key=lambda m: (m.get("name", ""), m.get("version", 0)))


def verify_artifact(
    name: str,
    version: int | None = None,
    root: str | Path | None = None,
    check_versions: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """Check an artifact without loading it; returns its directory and metadata."""
    version = latest_version(name, root) if version is None else int(version)
    directory = artifacts_root(root) / name / str(version)
    meta_path = directory / METADATA_FILE
    if not meta_path.is_file():
        raise ArtifactNotFound(
            f"{meta_path} does not exist: model {name!r} version {version} was not trained "
            "(run `make train`)",
            meta_path,
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactCorrupt(f"{meta_path} is not valid JSON: {exc}", meta_path) from exc
    model_path = directory / meta.get("model_file", "")
    if not meta.get("model_file") or not model_path.is_file():
        raise ArtifactNotFound(
            f"model file {model_path} listed in {meta_path} is missing", model_path
        )
    actual = sha256_file(model_path)
    if actual != meta.get("sha256"):
        raise ArtifactCorrupt(
            f"{model_path} is corrupt: sha256 {actual[:12]}… does not match "
            f"{str(meta.get('sha256'))[:12]}… recorded in {meta_path}",
            model_path,
        )
    if check_versions:
        installed = library_versions(meta["framework"])
        wrong = {
            lib: (trained, installed.get(lib))
            for lib, trained in meta.get("libraries", {}).items()
            if lib in installed and installed[lib] != trained
        }
        if wrong:
            detail = ", ".join(
                f"{lib} trained with {t}, installed {i}" for lib, (t, i) in wrong.items()
            )
            raise ArtifactVersionMismatch(
                f"{model_path} was trained with other library versions ({detail}); "
                "retrain with `make train` or install the versions in constraints.txt",
                model_path,
            )
    return directory, meta


def load_artifact(
    name: str,
    version: int | None = None,
    root: str | Path | None = None,
    check_versions: bool = True,
) -> LoadedArtifact:
    """Verify then load a model. Raises an ArtifactError subclass on any problem."""
    directory, meta = verify_artifact(name, version, root, check_versions)
    model_path = directory / meta["model_file"]
    try:
        model = _load_model(meta, model_path)
    except ArtifactError:
        raise
    except Exception as exc:  # a file that hashes right but will not deserialise
        raise ArtifactCorrupt(f"{model_path} could not be loaded: {exc}", model_path) from exc
    loaded = LoadedArtifact(name, int(meta["version"]), directory, meta, model)
    return attach_checked_scorer(loaded)  # refuses a churn model its fast scorer disagrees with


def _load_model(meta: dict[str, Any], model_path: Path) -> Any:
    framework = meta["framework"]
    if framework in ("sklearn", "xgboost"):
        import joblib

        return joblib.load(model_path)
    if framework == "torch":
        import torch

        from course_models.cnn import DigitsCNN

        model = DigitsCNN(**meta.get("architecture", {}))
        model.load_state_dict(torch.load(model_path, map_location="cpu", weights_only=True))
        model.eval()
        return model
    if framework == "transformers":
        from course_models.transformer import load_classifier

        return load_classifier(model_path.parent, meta)
    if framework == "keras":
        import keras

        return keras.models.load_model(model_path)
    raise ArtifactCorrupt(f"unknown framework {framework!r} in metadata", model_path)
