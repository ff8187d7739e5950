"""The support_intent artifact: generated data, held-out accuracy, reproducible fine-tuning."""

from __future__ import annotations

import json

import pytest

from course_models.artifacts import load_artifact
from course_models.text_data import INTENTS, make_messages, support_splits
from course_models.transformer import fine_tune


@pytest.mark.points(0)
def test_generator_is_seeded_balanced_and_varied():
    a, b = make_messages(400, 7), make_messages(400, 7)
    assert a == b and make_messages(400, 8) != a
    texts, labels = a
    assert sorted(set(labels)) == list(range(len(INTENTS)))
    assert all(labels.count(k) == 100 for k in range(len(INTENTS)))
    assert len(set(texts)) > 300  # templates x products x noise, not 400 copies of 48 lines


@pytest.mark.points(0)
def test_artifact_loads_verified_and_scores_the_test_split(text_artifacts):
    art = load_artifact("support_intent", 1, text_artifacts)
    meta = art.metadata
    assert meta["framework"] == "transformers" and meta["labels"] == list(INTENTS)
    assert meta["metrics"]["accuracy"] >= 0.9 and set(meta["metrics"]["f1"]) == set(INTENTS)
    assert {"tokenizer.json", "config.json", "index_to_name.json"} <= set(meta["files"])
    assert json.loads((art.path / "index_to_name.json").read_text())["0"] == INTENTS[0]
    texts, labels = support_splits(meta["training_data"]["seed"]).test
    predicted = art.model.predict(texts[:200])
    accuracy = sum(p == INTENTS[y] for p, y in zip(predicted, labels, strict=False)) / 200
    assert accuracy >= 0.9


@pytest.mark.points(0)
@pytest.mark.slow
def test_same_seed_same_model(tmp_path):
    """Two small fine-tunings with one seed give identical metrics and weights."""
    rows = (16, 8, 8)
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    first, second = fine_tune(tmp_path / "a", 3, rows), fine_tune(tmp_path / "b", 3, rows)
    assert first["metrics"] == second["metrics"]
    a = (tmp_path / "a" / "model.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "model.safetensors").read_bytes()
