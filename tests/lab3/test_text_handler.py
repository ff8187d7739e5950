"""support_intent handler, unit level: the real TextHandler on the archive's files, a real ts
Context and metrics cache, no Java and no server — batch order, per-request 400s, padding."""

from __future__ import annotations

import logging

import pytest

from lab3_torchserve import text_handler
from lab3_torchserve.package import TEXT_MODEL, stage_text

MESSAGES = {
    "please cancel my subscription, I am moving to another provider": "cancel",
    "I was charged twice for the premium plan this month": "billing",
    "the router keeps disconnecting every few minutes": "technical",
    "thank you, the mobile app works perfectly": "praise",
}


@pytest.fixture(scope="module")
def staged(text_artifacts, tmp_path_factory):
    return stage_text(1, tmp_path_factory.mktemp("support_intent_v1"), text_artifacts)


@pytest.fixture(scope="module")
def loaded(staged, worker):
    context = worker.context(TEXT_MODEL, staged.directory, staged.manifest(), staged.config)
    handler = text_handler.TextHandler()
    handler.initialize(context)
    return handler, context, worker


def run_batch(loaded, bodies: list) -> tuple[list[dict], list[int]]:
    """Through the module's handle(), the function TorchServe calls."""
    handler, context, worker = loaded
    text_handler._service = handler
    return worker.run(text_handler.handle, context, bodies)


@pytest.mark.task("3.1")
@pytest.mark.points(3)
def test_batch_of_messages_answered_in_order(loaded):
    texts = list(MESSAGES) * 2
    bodies = [{"text": t} if i % 2 else t.encode() for i, t in enumerate(texts)]
    out, status = run_batch(loaded, bodies)
    assert status == [200] * len(texts), out
    assert [o["label"] for o in out] == [MESSAGES[t] for t in texts]
    for o in out:
        probs = o["probabilities"]
        assert set(probs) == {"cancel", "billing", "technical", "praise"}
        assert abs(sum(probs.values()) - 1.0) < 1e-3 and max(probs, key=probs.get) == o["label"]


@pytest.mark.task("3.1")
@pytest.mark.points(3)
def test_bad_requests_get_400_and_neighbours_are_answered(loaded):
    good = list(MESSAGES)
    bodies = [
        {"text": good[0]},
        {"text": ""},
        "   ",
        {"text": 42},
        {"message": "no text field"},
        {"text": "word " * 300},  # far over max_length tokens
        b"\xff\xfe not utf-8",
        [1, 2, 3],
        good[3],
    ]
    out, status = run_batch(loaded, bodies)
    assert status == [200, 400, 400, 400, 400, 400, 400, 400, 200], out
    assert (out[0]["label"], out[8]["label"]) == ("cancel", "praise")
    for o in out[1:8]:
        assert o["error"] == "bad_input" and o["field"] == "text" and o["detail"]
    assert "empty" in out[1]["detail"] and "string" in out[3]["detail"]
    assert '"text"' in out[4]["detail"] and "limit" in out[5]["detail"]


@pytest.mark.points(0)
def test_one_forward_pass_padded_to_the_longest_message(loaded, monkeypatch):
    """Internals: the model runs once per batch, on (n_valid, longest) token ids."""
    handler = loaded[0]
    shapes = []
    forward = handler.model.forward

    def spy(*args, **kwargs):
        shapes.append(tuple(kwargs["input_ids"].shape))
        return forward(*args, **kwargs)

    monkeypatch.setattr(handler.model, "forward", spy)
    texts = ["cancel it", "I was charged twice for the premium plan this month", "", "great"]
    run_batch(loaded, texts)
    longest = len(handler.tokenizer(texts[1])["input_ids"])
    assert shapes == [(3, longest)]


@pytest.mark.task("3.5")
@pytest.mark.points(2)
def test_tokens_per_batch_metric_is_emitted(loaded, caplog):
    caplog.set_level(logging.INFO)
    run_batch(loaded, ["cancel it", "I was charged twice for the premium plan this month"])
    lines = [r.getMessage() for r in caplog.records if "[METRICS]" in r.getMessage()]
    tokens = [line for line in lines if line.startswith("[METRICS]TextTokensPerBatch.")]
    assert tokens and "ModelName:support_intent" in tokens[-1], lines
    assert any(line.startswith("[METRICS]TextPaddingPct.") for line in lines), lines


@pytest.mark.points(0)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "plain text"),
        ({"text": None}, "string"),
        (b'{"text": ', "invalid JSON"),
        ("x" * 2001, "characters"),
    ],
)
def test_parse_text_rejects_with_a_clear_message(body, message):
    with pytest.raises(text_handler.BadInput, match=message):
        text_handler.parse_text(body)


@pytest.mark.points(0)
def test_stub_answers_501_per_request(loaded, monkeypatch):
    """What a student-edition stub does: every request of the batch gets 501 naming the task."""
    handler = loaded[0]

    def stub(data):
        raise text_handler.TaskNotImplemented("3.1", "TextHandler.preprocess")

    monkeypatch.setattr(handler, "preprocess", stub)
    out, status = run_batch(loaded, ["a", "b"])
    assert status == [501, 501]
    assert out[0] == {"error": "task 3.1 not implemented: TextHandler.preprocess", "task": "3.1"}
