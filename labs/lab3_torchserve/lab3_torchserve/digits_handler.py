"""TorchServe handler for the 8x8 digits CNN: one batch of mixed requests in, one answer each out.

This file is copied into the .mar and imported by the TorchServe Python worker, so it must stand
alone: it imports only torch, numpy, Pillow and ``ts`` (never ``course_models`` or other lab code).

Accepted request bodies (one digit per request; TorchServe forms the batch):
- JSON array of 64 pixel values in [0, 1] (or an 8x8 nested array), or ``{"pixels": [...]}``;
- a PNG image (raw bytes, ``Content-Type: image/png``), or base64 of it, or ``{"image": "<b64>"}``.
A bad request gets HTTP 400 with a message naming the problem; the others in its batch still
get their predictions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib.util
import io
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ts.metrics.metric_type_enum import MetricTypes
from ts.torch_handler.base_handler import BaseHandler
from ts.utils.util import load_label_mapping

logger = logging.getLogger(__name__)

SIDE = 8
PIXELS = SIDE * SIDE
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 1 << 20
# Custom metrics, declared under model_metrics in metrics.yaml so that /metrics exports them.
BATCH_METRIC = "DigitsBatchSize"
BAD_INPUT_METRIC = "DigitsBadInputs"
PREPROCESS_METRIC = "DigitsPreprocessMs"


class BadInput(ValueError):
    """The request body cannot be turned into an 8x8 image; the message is shown to the client."""


@dataclass
class Batch:
    """What preprocess hands to inference: the valid rows as one tensor, and who they belong to."""

    size: int
    tensor: torch.Tensor
    rows: list[int]  # rows[j] = index in the TorchServe batch of tensor row j
    errors: dict[int, str] = field(default_factory=dict)


class DigitsHandler(BaseHandler):
    """BaseHandler.handle() drives preprocess → inference → postprocess on each batch."""

    def initialize(self, context):
        """Load weights into the shipped model class, verify them, pick a device, read labels.

        The architecture kwargs and the weights' sha256 come from the archive's model-config
        YAML (section ``handler``), written at packaging time from the artifact's metadata.
        """
        props = context.system_properties
        cfg = dict((getattr(context, "model_yaml_config", None) or {}).get("handler") or {})
        gpu = props.get("gpu_id")
        use_cuda = torch.cuda.is_available() and gpu is not None
        self.device = torch.device(f"cuda:{gpu}" if use_cuda else "cpu")
        if cfg.get("torch_threads"):
            # Many tiny requests: one intra-op thread per worker avoids oversubscribing the cores.
            torch.set_num_threads(int(cfg["torch_threads"]))

        self.manifest = context.manifest
        model_dir = Path(props["model_dir"])
        weights = model_dir / self.manifest["model"]["serializedFile"]
        expected = cfg.get("weights_sha256")
        if expected:
            actual = hashlib.sha256(weights.read_bytes()).hexdigest()
            if actual != expected:
                raise RuntimeError(
                    f"{weights.name}: sha256 {actual[:12]}… differs from {expected[:12]}… "
                    "recorded in the model config; rebuild the archive (make mar-3)"
                )
        model_cls = _load_class(
            model_dir / self.manifest["model"]["modelFile"], cfg.get("model_class", "DigitsCNN")
        )
        model = model_cls(**cfg.get("architecture", {}))
        model.load_state_dict(torch.load(weights, map_location=self.device, weights_only=True))
        self.model = model.to(self.device).eval()
        self.mapping = load_label_mapping(str(model_dir / "index_to_name.json"))
        self.topk = max(1, min(int(cfg.get("topk", 3)), 10))
        self.model_name = context.model_name
        self.version = str(self.manifest["model"].get("modelVersion", ""))
        self.initialized = True
        logger.info("loaded %s v%s on %s", self.model_name, self.version, self.device)

    def preprocess(self, data: list[dict[str, Any]]) -> Batch:
        """Parse every request on its own, so one bad body only fails its own request."""
        start = time.perf_counter()
        images, rows, errors = [], [], {}
        for idx, row in enumerate(data):
            try:
                images.append(parse_digit(_body(row)))
                rows.append(idx)
            except BadInput as exc:
                errors[idx] = str(exc)
        if images:
            tensor = torch.from_numpy(np.stack(images)).unsqueeze(1).to(self.device)
        else:
            tensor = torch.empty((0, 1, SIDE, SIDE), device=self.device)
        self._emit(PREPROCESS_METRIC, (time.perf_counter() - start) * 1000.0, MetricTypes.GAUGE)
        self._emit(BATCH_METRIC, len(data), MetricTypes.HISTOGRAM)
        if errors:
            self._emit(BAD_INPUT_METRIC, len(errors), MetricTypes.COUNTER)
        logger.info("batch of %d request(s), %d bad", len(data), len(errors))
        return Batch(size=len(data), tensor=tensor, rows=rows, errors=errors)

    def inference(self, batch: Batch, *args, **kwargs) -> tuple[Batch, torch.Tensor]:
        """One forward pass over all valid requests of the batch."""
        if batch.tensor.shape[0] == 0:
            return batch, torch.empty((0, 10))
        with torch.inference_mode():
            probs = torch.softmax(self.model(batch.tensor), dim=1).cpu()
        return batch, probs

    def postprocess(self, data: tuple[Batch, torch.Tensor]) -> list[dict[str, Any]]:
        """Top-k labels per request, in request order; bad requests get a 400 and a message."""
        batch, probs = data
        out: list[dict[str, Any]] = [{} for _ in range(batch.size)]
        values, indices = probs.topk(self.topk, dim=1) if len(probs) else (probs, probs)
        for j, idx in enumerate(batch.rows):
            top = [
                {"label": self._label(int(k)), "probability": round(float(p), 6)}
                for p, k in zip(values[j], indices[j], strict=True)
            ]
            out[idx] = {"label": top[0]["label"], "top_k": top, "model_version": self.version}
        for idx, message in batch.errors.items():
            out[idx] = {"error": "bad_input", "detail": message}
            if self.context is not None:
                # The detail goes in the body; the status line keeps a plain ASCII reason.
                self.context.set_response_status(400, "Bad Request", idx)
        return out

    def _label(self, index: int) -> str:
        return self.mapping.get(str(index), str(index)) if self.mapping else str(index)

    def _emit(self, name: str, value: float, kind: MetricTypes) -> None:
        """Emit a model metric; the worker prints it and the frontend exports it to Prometheus."""
        metrics = getattr(self.context, "metrics", None)
        if metrics is None:
            return
        try:
            metric = metrics.get_metric(name, kind)
        except Exception:  # not in the worker's metrics.yaml: create it (the frontend will
            # still drop it from /metrics unless metrics.yaml declares it)
            metric = metrics.add_metric_to_cache(name, _UNITS[name], ["ModelName", "Level"], kind)
        metric.add_or_update(value, [self.model_name, "Model"])


_UNITS = {BATCH_METRIC: "count", BAD_INPUT_METRIC: "count", PREPROCESS_METRIC: "ms"}


def _load_class(path: Path, name: str) -> type[torch.nn.Module]:
    """Import the model file shipped in the archive by path (the worker and tests alike)."""
    spec = importlib.util.spec_from_file_location(f"_mar_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import model file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _body(row: Any) -> Any:
    """TorchServe gives each request as {"data": ...} or {"body": ...}; JSON arrives decoded."""
    if isinstance(row, dict):
        for key in ("data", "body"):
            if row.get(key) is not None:
                return row[key]
        raise BadInput("empty request: send a JSON array of 64 pixels or a PNG image")
    return row


def parse_digit(payload: Any) -> np.ndarray:
    """Turn one request body into an (8, 8) float32 array in [0, 1], or raise BadInput."""
    if isinstance(payload, bytes | bytearray):
        payload = bytes(payload)
        if payload.startswith(PNG_MAGIC):
            return decode_png(payload)
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput("body is neither JSON, base64 nor a PNG image") from exc
    if isinstance(payload, str):
        payload = _from_text(payload)
        if isinstance(payload, np.ndarray):
            return payload
    if isinstance(payload, dict):
        payload = _from_object(payload)
        if isinstance(payload, np.ndarray):
            return payload
    if isinstance(payload, list):
        return _pixels(payload)
    raise BadInput(f"unsupported body of type {type(payload).__name__}")


def _from_text(text: str) -> Any:
    """JSON text (decoded, still to be checked) or base64 of a PNG (decoded to pixels)."""
    text = text.strip()
    if text[:1] not in ("[", "{"):
        return decode_png(_b64(text))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"invalid JSON: {exc.msg} at position {exc.pos}") from exc


def _from_object(payload: dict) -> Any:
    """``{"image": "<base64 PNG>"}`` → pixels, ``{"pixels": [...]}`` → the list."""
    if "image" in payload:
        if not isinstance(payload["image"], str):
            raise BadInput("'image' must be a base64-encoded PNG string")
        return decode_png(_b64(payload["image"]))
    if "pixels" in payload:
        return payload["pixels"]
    raise BadInput("JSON object needs 'pixels' (64 numbers in [0, 1]) or 'image' (base64 PNG)")


def _pixels(values: list) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise BadInput("'pixels' must be numbers: 64 values, or 8 rows of 8") from exc
    if arr.size != PIXELS or arr.shape not in ((PIXELS,), (SIDE, SIDE)):
        raise BadInput(f"'pixels' must hold 64 values (8x8), got shape {list(arr.shape)}")
    if not np.isfinite(arr).all():
        raise BadInput("'pixels' contains NaN or infinity")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise BadInput(
            f"'pixels' must be in [0, 1] (sklearn digits / 16), got {arr.min():g}..{arr.max():g}"
        )
    return arr.reshape(SIDE, SIDE)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput("body is not valid base64 (expected a base64-encoded PNG)") from exc


def decode_png(raw: bytes) -> np.ndarray:
    """Any-size grayscale or colour PNG → 8x8 ink intensities in [0, 1].

    The training digits are bright ink on a dark background; a picture with a light background
    (dark ink on paper) is inverted so both work.
    """
    from PIL import Image, UnidentifiedImageError

    if len(raw) > MAX_IMAGE_BYTES:
        raise BadInput(f"image larger than {MAX_IMAGE_BYTES} bytes")
    if not raw.startswith(PNG_MAGIC):
        raise BadInput("image is not a PNG (bad signature)")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img = img.convert("L").resize((SIDE, SIDE), Image.Resampling.BOX)
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadInput(f"cannot decode PNG: {exc}") from exc
    if arr.mean() > 0.5:
        arr = 1.0 - arr
    return arr


_service = DigitsHandler()


def handle(data: list[dict[str, Any]] | None, context) -> list[dict[str, Any]] | None:
    """TorchServe's entry point. The worker calls ``handle(None, ctx)`` once to initialise.

    A module-level function is used because TorchServe's loader otherwise requires the handler
    file to define exactly one class, and this one also defines BadInput and Batch.
    """
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
