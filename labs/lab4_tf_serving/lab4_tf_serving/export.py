"""Export the course's Keras digits models as SavedModels in TF Serving's layout.

``<out>/<name>/<version>/saved_model.pb`` + ``variables/``: TF Serving watches ``<out>/<name>``
and serves the numeric sub-directories. Signatures are written explicitly (named inputs, fixed
inner shapes, dtypes) instead of relying on whatever ``model.export()`` infers, because the
signature *is* the API contract clients code against.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import tensorflow as tf

from course_models.artifacts import list_versions, load_artifact
from course_models.tasks import TaskNotImplemented  # noqa: F401 - raised by the task stub
from lab4_tf_serving.savedmodel import DEFAULT_SIGNATURE

SOURCE = "digits_keras"


class DigitsServing(tf.Module):
    """serving_default: image float32 [-1, 8, 8] in [0, 1] -> probabilities float32 [-1, 10];
    classify: the same input -> classes int64 [-1] and probabilities."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    # BEGIN TASK 4.1: an explicit serving_default signature (named input, shape, dtype)
    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8], tf.float32, name="image")])
    def serve(self, image):
        return {"probabilities": self.model(image, training=False)}

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8], tf.float32, name="image")])
    def classify(self, image):
        probs = self.model(image, training=False)
        return {"classes": tf.argmax(probs, axis=1), "probabilities": probs}

    def signatures(self) -> dict:
        """What ``tf.saved_model.save`` writes as the SavedModel's signature map."""
        return {DEFAULT_SIGNATURE: self.serve, "classify": self.classify}

    # STUB
    # def signatures(self) -> dict:
    #     raise TaskNotImplemented("4.1", "DigitsServing: the explicit serving_default signature")
    # END TASK 4.1


class RawDigitsServing(tf.Module):
    """Pre-processing inside the graph: raw sklearn pixels int32 0..16, flattened [-1, 64];
    ``from_bytes``: the same pixels as 64 raw bytes per digit (a DT_STRING input, sent over
    REST as ``{"b64": ...}``), answering the label as text and the bytes it read."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.int32, name="pixels")])
    def serve(self, pixels):
        image = tf.reshape(tf.cast(pixels, tf.float32) / 16.0, [-1, 8, 8])
        probs = self.model(image, training=False)
        return {"classes": tf.argmax(probs, axis=1), "probabilities": probs}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="pixels_bytes")])
    def from_bytes(self, pixels_bytes):
        pixels = tf.reshape(tf.cast(tf.io.decode_raw(pixels_bytes, tf.uint8), tf.int32), [-1, 64])
        out = self.serve(pixels)
        return {"label": tf.strings.as_string(out["classes"]), "pixels_bytes": pixels_bytes}


def _write(module: tf.Module, signatures: dict, target: Path, provenance: dict) -> Path:
    """Write into a hidden sibling then rename: a polling server never sees half a version."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tf.saved_model.save(module, str(tmp), signatures=signatures)
    (tmp / "export.json").write_text(json.dumps(provenance, indent=2) + "\n")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return target


def export_all(out: str | Path, root: str | Path | None = None) -> list[Path]:
    """digits/<v> for every digits_keras version, and digits_raw/1 from the newest one."""
    out = Path(out)
    written = []
    versions = list_versions(SOURCE, root)
    if not versions:
        raise SystemExit(f"no {SOURCE} artifacts: run `make train` first")
    for version in versions:
        art = load_artifact(SOURCE, version, root)
        module = DigitsServing(art.model)
        provenance = {"source": SOURCE, "source_version": version, "sha256": art.metadata["sha256"]}
        written.append(
            _write(
                module,
                module.signatures(),
                out / "digits" / str(version),
                provenance,
            )
        )
    art = load_artifact(SOURCE, versions[-1], root)
    raw = RawDigitsServing(art.model)
    provenance = {
        "source": SOURCE,
        "source_version": versions[-1],
        "sha256": art.metadata["sha256"],
    }
    written.append(
        _write(
            raw,
            {DEFAULT_SIGNATURE: raw.serve, "from_bytes": raw.from_bytes},
            out / "digits_raw" / "1",
            provenance,
        )
    )
    return written
