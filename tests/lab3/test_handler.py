"""Handler unit tests: the real DigitsHandler on the archive's files, a real ts Context and
metrics cache, no Java and no server — batch order, mixed formats, bad input, metrics."""

from __future__ import annotations

import ast
import base64
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from ts.context import RequestProcessor

from lab3_torchserve import digits_handler
from lab3_torchserve.client import digit_png
from lab3_torchserve.digits_handler import BadInput, DigitsHandler, parse_digit
from lab3_torchserve.package import MODEL_NAME, stage


@pytest.fixture(scope="module")
def staged(trained_artifacts, tmp_path_factory):
    return stage(1, tmp_path_factory.mktemp("mar_v1"), trained_artifacts)


@pytest.fixture(scope="module")
def loaded(staged, worker):
    handler = DigitsHandler()
    context = worker.context(MODEL_NAME, staged.directory, staged.manifest(), staged.config)
    handler.initialize(context)
    return handler, context, worker


def run_batch(loaded, bodies: list) -> tuple[list[dict], list[int]]:
    handler, context, worker = loaded
    return worker.run(handler.handle, context, bodies)


@pytest.mark.points(0)
def test_batch_answers_in_request_order(loaded, digits):
    picks = list(range(0, 60, 3))  # 20 different digits in one batch
    out, status = run_batch(loaded, [digits.x[i].ravel().tolist() for i in picks])
    assert status == [200] * len(picks)
    assert [o["label"] for o in out] == [digits.expected_v1[i] for i in picks]
    for o in out:
        probs = [t["probability"] for t in o["top_k"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001
        assert o["top_k"][0]["label"] == o["label"] and o["model_version"] == "1.0"


@pytest.mark.points(0)
def test_mixed_formats_in_one_batch(loaded, digits):
    i = 7
    pixels = digits.x[i]
    png = digit_png(pixels)
    b64 = base64.b64encode(png).decode()
    bodies = [
        pixels.ravel().tolist(),  # JSON array (TorchServe decodes application/json)
        pixels.tolist(),  # 8x8 nested
        {"pixels": pixels.ravel().tolist()},
        png,  # raw PNG bytes (image/png)
        b64,  # base64 text (text/plain)
        {"image": b64},
        json.dumps(pixels.ravel().tolist()).encode(),  # JSON sent as octet-stream
        bytearray(png),
    ]
    out, status = run_batch(loaded, bodies)
    assert status == [200] * len(bodies), out
    assert {o["label"] for o in out} == {digits.expected_v1[i]}


@pytest.mark.points(0)
def test_png_digits_match_pixel_predictions(loaded, digits):
    picks = range(40)
    out, _ = run_batch(loaded, [digit_png(digits.x[i]) for i in picks])
    agree = np.mean(
        [o.get("label") == digits.expected_v1[i] for o, i in zip(out, picks, strict=True)]
    )
    assert agree >= 0.95, out


@pytest.mark.points(0)
def test_bad_input_fails_only_its_own_request(loaded, digits):
    good = [digits.x[i].ravel().tolist() for i in range(3)]
    bodies = [
        good[0],
        [0.5] * 63,
        good[1],
        [float("nan")] + [0.0] * 63,
        [2.0] * 64,
        b"\x00\x01\x02 not an image",
        "this is not base64!",
        {"foo": 1},
        good[2],
    ]
    out, status = run_batch(loaded, bodies)
    assert status == [200, 400, 200, 400, 400, 400, 400, 400, 200]
    assert [out[i]["label"] for i in (0, 2, 8)] == digits.expected_v1[:3]
    details = {i: out[i]["detail"] for i in (1, 3, 4, 5, 6, 7)}
    assert all(out[i]["error"] == "bad_input" for i in details)
    assert "64 values" in details[1] and "NaN" in details[3] and "[0, 1]" in details[4]
    assert "PNG" in details[5] and "base64" in details[6] and "'pixels'" in details[7]


@pytest.mark.points(0)
def test_batch_of_only_bad_requests(loaded):
    out, status = run_batch(loaded, [[], "", {"image": 5}])
    assert status == [400, 400, 400]
    assert all(o["error"] == "bad_input" for o in out)


@pytest.mark.points(0)
def test_custom_metrics_are_emitted(loaded, digits, caplog):
    caplog.set_level(logging.INFO)
    run_batch(loaded, [digits.x[0].ravel().tolist()] * 4 + [[1.5]])
    lines = [r.getMessage() for r in caplog.records if "[METRICS]" in r.getMessage()]
    assert any(line.startswith("[METRICS]DigitsBatchSize.Count:5|") for line in lines), lines
    assert any(line.startswith("[METRICS]DigitsBadInputs.Count:1|") for line in lines), lines
    assert any("#type:HISTOGRAM" in line and "ModelName:digits_cnn" in line for line in lines)


@pytest.mark.points(0)
def test_tampered_weights_are_refused(staged, tmp_path, worker):
    tampered = stage(1, tmp_path / "v1")
    config = yaml.safe_load(tampered.config.read_text())
    config["handler"]["weights_sha256"] = "0" * 64
    tampered.config.write_text(yaml.safe_dump(config))
    with pytest.raises(RuntimeError, match="sha256"):
        DigitsHandler().initialize(
            worker.context(MODEL_NAME, tampered.directory, tampered.manifest(), tampered.config)
        )


@pytest.mark.points(0)
def test_module_entry_point_initialises_once(staged, digits, worker):
    context = worker.context(MODEL_NAME, staged.directory, staged.manifest(), staged.config)
    fresh = DigitsHandler()
    original = digits_handler._service
    digits_handler._service = fresh
    try:
        assert digits_handler.handle(None, context) is None  # the worker's load call
        assert fresh.initialized and fresh.topk == 3
        context.request_processor = [RequestProcessor({})]
        context.request_ids = {0: "r0"}
        out = digits_handler.handle([{"data": digits.x[1].ravel().tolist()}], context)
        assert out[0]["label"] == digits.expected_v1[1]
    finally:
        digits_handler._service = original


@pytest.mark.points(0)
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([0.1] * 65, "64 values"),
        ([[0.1] * 8] * 7, "64 values"),
        (["a"] * 64, "must be numbers"),
        ([-0.1] + [0.0] * 63, r"\[0, 1\]"),
        ({"image": "%%%"}, "base64"),
        ({"image": base64.b64encode(b"GIF89a....").decode()}, "not a PNG"),
        (b"\x89PNG\r\n\x1a\n truncated", "cannot decode PNG"),
        ("[1, 2", "invalid JSON"),
        (None, "unsupported body"),
        (3.5, "unsupported body"),
    ],
)
def test_parse_digit_rejects_with_a_clear_message(body, message):
    with pytest.raises(BadInput, match=message):
        parse_digit(body)


@pytest.mark.points(0)
def test_handler_file_is_self_contained():
    """The .mar carries only this file: it must not import course code the worker may lack."""
    tree = ast.parse(Path(digits_handler.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    third_party = roots - set(__import__("sys").stdlib_module_names)
    assert third_party <= {"numpy", "torch", "ts", "PIL"}, third_party
