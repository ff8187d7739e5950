"""Instructor-only checks for lab 3 (absent from the student edition)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from lab3_torchserve.package import TEXT_MODEL

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.task("3.1")
@pytest.mark.points(2)
def test_unicode_plain_text_and_json_agree(torchserve):
    text = "Bonjour — I was charged twice for my subscription 💳"
    as_json = torchserve.infer.classify(text)
    as_plain = torchserve.infer.classify(text, plain=True)
    assert as_json.status_code == as_plain.status_code == 200
    assert as_json.label == as_plain.label == "billing"


@pytest.mark.task("3.1")
@pytest.mark.points(2)
def test_a_batch_of_only_bad_requests_is_all_400(torchserve):
    bodies = ["", "   ", {"text": ["a list"]}, {"text": None}]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(torchserve.infer.classify, bodies))
    assert [a.status_code for a in answers] == [400] * len(bodies)
    assert all(a.body.get("field") == "text" for a in answers)
    assert torchserve.infer.classify("thanks, great app", model=TEXT_MODEL).label == "praise"
