"""The .mar archives: layout, manifest, model config and verified weights."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile

import pytest
import yaml

from course_models.artifacts import verify_artifact
from lab3_torchserve.package import MODEL_NAME, TEXT_MODEL, mar_name


@pytest.mark.points(0)
@pytest.mark.parametrize("version", [1, 2])
def test_mar_layout_and_manifest(model_store, trained_artifacts, version):
    path = model_store / mar_name(version)
    with zipfile.ZipFile(path) as mar:
        names = set(mar.namelist())
        assert names == {
            "MAR-INF/MANIFEST.json", "model.pt", "cnn.py", "digits_handler.py",
            "index_to_name.json", "model-config.yaml",
        }  # fmt: skip
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]
        config = yaml.safe_load(mar.read("model-config.yaml"))
        labels = json.loads(mar.read("index_to_name.json"))
        weights_sha = hashlib.sha256(mar.read("model.pt")).hexdigest()
    assert manifest["modelName"] == MODEL_NAME
    assert manifest["modelVersion"] == f"{version}.0"
    assert (manifest["handler"], manifest["modelFile"], manifest["serializedFile"]) == (
        "digits_handler.py", "cnn.py", "model.pt",
    )  # fmt: skip
    _, meta = verify_artifact(MODEL_NAME, version, trained_artifacts)
    assert weights_sha == meta["sha256"] == config["handler"]["weights_sha256"]
    assert config["handler"]["architecture"] == meta["architecture"]
    assert labels == {str(i): label for i, label in enumerate(meta["labels"])}
    assert "batchSize" not in config  # left to the register call on purpose


@pytest.mark.task("3.2")
@pytest.mark.points(3)
def test_text_archive_carries_weights_tokenizer_and_config(text_artifacts, tmp_path):
    """Built through the CLI `make mar-3` runs; the tokenizer must travel inside the archive."""
    done = subprocess.run(
        [sys.executable, "-m", "lab3_torchserve.package", "--model", TEXT_MODEL,
         "--store", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / mar_name(1, TEXT_MODEL)) as mar:
        names = set(mar.namelist())
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]
        config = yaml.safe_load(mar.read("model-config.yaml"))
        weights_sha = hashlib.sha256(mar.read("model.safetensors")).hexdigest()
        labels = json.loads(mar.read("index_to_name.json"))
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
            "index_to_name.json", "model-config.yaml", "text_handler.py"} <= names  # fmt: skip
    assert (manifest["modelName"], manifest["modelVersion"]) == (TEXT_MODEL, "1.0")
    assert manifest["serializedFile"] == "model.safetensors"
    _, meta = verify_artifact(TEXT_MODEL, 1, text_artifacts)
    assert weights_sha == meta["sha256"]
    assert labels == {str(i): name for i, name in enumerate(meta["labels"])}
    assert config["batchSize"] >= 1 and config["handler"]["max_length"] == meta["max_length"]
