"""TorchServe handler for ``support_intent``: a batch of messages in, one intent per message out.

Copied into the .mar and imported by the TorchServe worker, so it imports only torch,
transformers and ``ts`` — the tokenizer and weights come from the archive itself.

A request body is ``{"text": "..."}`` (``Content-Type: application/json``) or the message as
plain text (``text/plain``). A bad request (empty, over-long, wrong type) gets its own 400
naming the field; the other requests of its batch are still answered.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from ts.metrics.metric_type_enum import MetricTypes
from ts.torch_handler.base_handler import BaseHandler
from ts.utils.util import load_label_mapping

logger = logging.getLogger(__name__)

MAX_CHARS = 2000  # cheap guard before tokenizing; the token limit below is the real one
# Custom metrics, declared under model_metrics in metrics.yaml so that /metrics exports them.
TOKENS_METRIC = "TextTokensPerBatch"  # padded tokens the forward pass computed
PADDING_METRIC = "TextPaddingPct"  # share of those tokens that were padding
BATCH_METRIC = "TextBatchSize"


class BadInput(ValueError):
    """This request cannot be classified; the message is shown to its client."""


class TaskNotImplemented(NotImplementedError):
    """A student-edition stub (the .mar cannot import course_models.tasks, so it has its own)."""

    def __init__(self, task: str, what: str):
        super().__init__(f"task {task} not implemented: {what}")
        self.task = task


@dataclass
class Batch:
    """What preprocess hands to inference: one padded tensor for the valid rows, and the rest."""

    size: int
    encoded: dict[str, torch.Tensor]
    rows: list[int]  # rows[j] = index in the TorchServe batch of tensor row j
    errors: dict[int, str] = field(default_factory=dict)


class TextHandler(BaseHandler):
    """BaseHandler.handle() drives preprocess → inference → postprocess on each batch."""

    def initialize(self, context):
        """Load the fine-tuned model and its tokenizer from the unpacked archive, offline."""
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        props = context.system_properties
        cfg = dict((getattr(context, "model_yaml_config", None) or {}).get("handler") or {})
        gpu = props.get("gpu_id")
        use_cuda = torch.cuda.is_available() and gpu is not None
        self.device = torch.device(f"cuda:{gpu}" if use_cuda else "cpu")
        if cfg.get("torch_threads"):
            torch.set_num_threads(int(cfg["torch_threads"]))
        model_dir = Path(props["model_dir"])
        self.manifest = context.manifest
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
        self.model = model.to(self.device).eval()
        self.mapping = load_label_mapping(str(model_dir / "index_to_name.json"))
        self.labels = [self.mapping[str(i)] for i in range(len(self.mapping))]
        self.max_length = int(cfg.get("max_length", 64))
        self.max_chars = int(cfg.get("max_chars", MAX_CHARS))
        self.model_name = context.model_name
        self.version = str(self.manifest["model"].get("modelVersion", ""))
        self.initialized = True
        logger.info("loaded %s v%s on %s", self.model_name, self.version, self.device)

    # BEGIN TASK 3.1: batched preprocess and per-request postprocess
    def preprocess(self, data: list[dict[str, Any]]) -> Batch:
        """Tokenize the whole batch at once, padded to its longest message (not to max_length)."""
        texts, rows, errors = [], [], {}
        for idx, row in enumerate(data):
            try:
                texts.append(parse_text(_body(row), self.max_chars))
                rows.append(idx)
            except BadInput as exc:
                errors[idx] = str(exc)
        encoded = {}
        if texts:
            # One tokenizer call for the whole batch, padded to its longest message.
            encoded = dict(self.tokenizer(texts, padding="longest", return_tensors="pt"))
            lengths = encoded["attention_mask"].sum(dim=1)
            for j in (lengths > self.max_length).nonzero().flatten().tolist():
                errors[rows[j]] = (
                    f"'text' is {int(lengths[j])} tokens long; the limit is {self.max_length}"
                )
            keep = lengths <= self.max_length
            rows = [r for r, k in zip(rows, keep.tolist(), strict=True) if k]
            # Without the refused rows the batch may be shorter: cut the padding they caused.
            width = int(lengths[keep].max()) if rows else 0
            encoded = {k: v[keep][:, :width] for k, v in encoded.items()}
        batch = Batch(len(data), encoded, rows, errors)
        self.record_batch(batch)
        return batch

    def postprocess(self, data: tuple[Batch, torch.Tensor]) -> list[dict[str, Any]]:
        """One answer per request, in request order; a bad request gets 400 and the reason."""
        batch, probs = data
        out: list[dict[str, Any]] = [{} for _ in range(batch.size)]
        for j, idx in enumerate(batch.rows):
            p = probs[j].tolist()
            out[idx] = {
                "label": self.labels[max(range(len(p)), key=p.__getitem__)],
                "probabilities": {n: round(v, 6) for n, v in zip(self.labels, p, strict=True)},
                "model_version": self.version,
            }
        for idx, message in batch.errors.items():
            out[idx] = {"error": "bad_input", "field": "text", "detail": message}
            if self.context is not None:
                self.context.set_response_status(400, "Bad Request", idx)
        return out

    # STUB
    # def preprocess(self, data: list[dict[str, Any]]) -> Batch:
    #     raise TaskNotImplemented("3.1", "TextHandler.preprocess (whole-batch tokenization)")
    # def postprocess(self, data: tuple[Batch, torch.Tensor]) -> list[dict[str, Any]]:
    #     raise TaskNotImplemented("3.1", "TextHandler.postprocess (one answer per request)")
    # END TASK 3.1

    def inference(self, batch: Batch, *args, **kwargs) -> tuple[Batch, torch.Tensor]:
        """One forward pass over every valid request of the batch."""
        if not batch.rows:
            return batch, torch.empty((0, len(self.labels)))
        inputs = {k: v.to(self.device) for k, v in batch.encoded.items()}
        with torch.inference_mode():
            return batch, torch.softmax(self.model(**inputs).logits, dim=-1).cpu()

    def record_batch(self, batch: Batch) -> None:
        """The custom metrics: how many tokens this batch cost, and how much was padding."""
        # BEGIN TASK 3.5: a custom metric (tokens per batch)
        mask = batch.encoded.get("attention_mask")
        tokens = int(mask.numel()) if mask is not None else 0
        real = int(mask.sum()) if mask is not None else 0
        self._emit(BATCH_METRIC, batch.size, MetricTypes.HISTOGRAM)
        self._emit(TOKENS_METRIC, tokens, MetricTypes.HISTOGRAM)
        if tokens:
            self._emit(PADDING_METRIC, 100.0 * (tokens - real) / tokens, MetricTypes.GAUGE)
        # STUB
        # pass
        # END TASK 3.5
        logger.info("batch of %d request(s), %d bad", batch.size, len(batch.errors))

    def _emit(self, name: str, value: float, kind: MetricTypes) -> None:
        """A model metric: the worker prints it, the frontend exports it if metrics.yaml has it."""
        metrics = getattr(self.context, "metrics", None)
        if metrics is None:
            return
        try:
            metric = metrics.get_metric(name, kind)
        except Exception:  # not declared: create it (the frontend drops it from /metrics)
            metric = metrics.add_metric_to_cache(name, "count", ["ModelName", "Level"], kind)
        metric.add_or_update(value, [self.model_name, "Model"])


def _body(row: Any) -> Any:
    """TorchServe gives each request as ``{"data": ...}`` or ``{"body": ...}``."""
    if isinstance(row, dict):
        return row.get("data") if row.get("data") is not None else row.get("body")
    return row


def parse_text(body: Any, max_chars: int = MAX_CHARS) -> str:
    """One request body → its message text, or BadInput naming what is wrong with ``text``."""
    if isinstance(body, bytes | bytearray):
        body = _decode(bytes(body))
    if isinstance(body, dict):
        if "text" not in body:
            raise BadInput('JSON body needs a "text" field: {"text": "your message"}')
        body = body["text"]
        if not isinstance(body, str):
            raise BadInput(f"'text' must be a string, got {type(body).__name__}")
    if not isinstance(body, str):
        raise BadInput(f'body must be {{"text": "..."}} or plain text, got {type(body).__name__}')
    text = body.strip()
    if not text:
        raise BadInput("'text' is empty")
    if len(text) > max_chars:
        raise BadInput(f"'text' is {len(text)} characters long; the limit is {max_chars}")
    return text


def _decode(raw: bytes) -> str | Any:
    """A body TorchServe did not decode (no text/JSON content type): UTF-8, maybe JSON."""
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("body is not UTF-8 text") from exc
    if not body.lstrip().startswith("{"):
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadInput(f"invalid JSON: {exc.msg} at position {exc.pos}") from exc


_service = TextHandler()


def handle(data: list[dict[str, Any]] | None, context) -> list[dict[str, Any]] | None:
    """TorchServe's entry point (a function: this module defines more than one class).

    A task stub answers every request of the batch with 501 naming the task, instead of the
    503 TorchServe gives for an exception.
    """
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    try:
        return _service.handle(data, context)
    except TaskNotImplemented as exc:
        for idx in range(len(data)):
            context.set_response_status(501, "Not Implemented", idx)
        return [{"error": str(exc), "task": exc.task} for _ in data]
