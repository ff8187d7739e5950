"""The same checks hold the stand-in and a real TF Serving (TFSERVING_REST_URL/..._GRPC_ADDR) to
TF Serving's documented REST and gRPC behaviour (g3doc/api_rest.md and the protos)."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from lab4_tf_serving.client import TFServingError

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _get(server, path):
    return httpx.get(server.rest + path, timeout=30)


def _post(server, path, content: str | bytes):
    return httpx.post(
        server.rest + path,
        content=content,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )


# --------------------------------------------------------------------- status and metadata
@pytest.mark.points(0)
def test_status_json_matches_get_model_status_response(server):
    r = _get(server, "/v1/models/digits")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["model_version_status"]
    by_version = {item["version"]: item for item in body["model_version_status"]}
    assert {"1", "2"} <= set(by_version)  # int64 versions are JSON strings
    for v in ("1", "2"):
        assert by_version[v] == {
            "version": v,
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""},
        }


@pytest.mark.points(0)
def test_status_by_version_and_by_label(server):
    one = _get(server, "/v1/models/digits/versions/1").json()["model_version_status"]
    assert [s["version"] for s in one] == ["1"]
    canary = _get(server, "/v1/models/digits/labels/canary").json()["model_version_status"]
    assert [s["version"] for s in canary] == ["2"]


@pytest.mark.points(0)
def test_metadata_json_matches_get_model_metadata_response(server):
    body = _get(server, "/v1/models/digits/versions/1/metadata").json()
    assert set(body) == {"model_spec", "metadata"}
    assert body["model_spec"] == {"name": "digits", "signature_name": "", "version": "1"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "classify"} <= set(sigs)
    default = sigs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    image = default["inputs"]["image"]
    assert image["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in image["tensor_shape"]["dim"]] == ["-1", "8", "8"]
    assert image["tensor_shape"]["unknown_rank"] is False
    out = default["outputs"]["probabilities"]
    assert out["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in out["tensor_shape"]["dim"]] == ["-1", "10"]
    latest = _get(server, "/v1/models/digits/metadata").json()
    assert latest["model_spec"]["version"] == "2"  # omitted version = latest


@pytest.mark.points(0)
def test_grpc_status_and_metadata(grpc_client):
    from tensorflow_serving.apis import get_model_status_pb2

    status = grpc_client.status("digits", version=2)
    [item] = status.model_version_status
    assert item.version == 2
    assert item.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert item.status.error_code == 0
    response, signatures = grpc_client.metadata("digits", label="stable")
    assert response.model_spec.name == "digits" and response.model_spec.version.value == 1
    image = signatures.signature_def["serving_default"].inputs["image"]
    assert [d.size for d in image.tensor_shape.dim] == [-1, 8, 8]


# --------------------------------------------------------------------- predictions
@pytest.mark.points(0)
def test_rest_row_format_equals_keras(rest, digits, keras_predict, close):
    x, _ = digits
    for version in (1, 2):
        close(rest.predict("digits", x, version=version), keras_predict[version])


@pytest.mark.points(0)
def test_rest_columnar_format_equals_row_format(server, digits, keras_predict, close):
    x, _ = digits
    columnar = _post(server, "/v1/models/digits:predict", json.dumps({"inputs": x.tolist()}))
    assert columnar.status_code == 200
    assert list(columnar.json()) == ["outputs"]
    close(columnar.json()["outputs"], keras_predict[2])
    named = _post(
        server, "/v1/models/digits:predict", json.dumps({"inputs": {"image": x.tolist()}})
    )
    close(named.json()["outputs"], keras_predict[2])
    row = _post(server, "/v1/models/digits:predict", json.dumps({"instances": x.tolist()}))
    assert list(row.json()) == ["predictions"]
    close(row.json()["predictions"], columnar.json()["outputs"], atol=0)


@pytest.mark.points(0)
def test_grpc_predict_equals_keras(grpc_client, digits, keras_predict, close):
    x, _ = digits
    response = grpc_client.predict_response("digits", {"image": x}, version=1)
    assert response.model_spec.name == "digits"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    import tensorflow as tf

    close(tf.make_ndarray(response.outputs["probabilities"]), keras_predict[1])
    latest = grpc_client.predict_response("digits", {"image": x})
    assert latest.model_spec.version.value == 2
    close(tf.make_ndarray(latest.outputs["probabilities"]), keras_predict[2])


@pytest.mark.points(0)
def test_rest_and_grpc_return_the_same_numbers(rest, grpc_client, digits, close):
    x, y = digits
    by_rest = rest.predict("digits", x)
    by_grpc = grpc_client.predict("digits", {"image": x})["probabilities"]
    close(by_rest, by_grpc, atol=1e-6)
    assert (by_rest.argmax(1) == y).mean() >= 0.9


@pytest.mark.points(0)
def test_version_and_label_addressing(rest, grpc_client, digits, keras_predict, close):
    x, _ = digits
    assert not np.allclose(keras_predict[1], keras_predict[2], atol=1e-4)  # they differ
    close(rest.predict("digits", x, label="stable"), keras_predict[1])
    close(rest.predict("digits", x, label="canary"), keras_predict[2])
    close(grpc_client.predict("digits", {"image": x}, label="stable")["probabilities"],
          keras_predict[1])  # fmt: skip
    close(rest.predict("digits", x, version=1, columnar=True), keras_predict[1])


@pytest.mark.points(0)
def test_multi_output_signature_by_name(rest, grpc_client, digits, keras_predict, close):
    x, _ = digits
    row = rest.predict_raw("digits", {"signature_name": "classify", "instances": x.tolist()})
    first = row["predictions"][0]
    assert set(first) == {"classes", "probabilities"}  # several outputs: a list of objects
    cols = rest.predict("digits", x, signature="classify", columnar=True)
    assert set(cols) == {"classes", "probabilities"}
    assert cols["classes"].tolist() == keras_predict[2].argmax(1).tolist()
    out = grpc_client.predict("digits", {"image": x}, signature="classify")
    assert out["classes"].dtype == np.int64
    assert out["classes"].tolist() == keras_predict[2].argmax(1).tolist()


@pytest.mark.points(0)
def test_int_input_model_with_preprocessing_in_the_graph(rest, digits, keras_predict, close):
    x, _ = digits
    pixels = np.rint(x * 16).astype(np.int32).reshape(len(x), 64)
    out = rest.predict("digits_raw", pixels)
    close(out["probabilities"], keras_predict[2], atol=1e-4)
    assert out["classes"].tolist() == keras_predict[2].argmax(1).tolist()


# --------------------------------------------------------------------- errors
@pytest.mark.points(0)
def test_unknown_model_version_and_label(server):
    cases = [
        ("/v1/models/nope:predict", 404, "Servable not found for request: Latest(nope)"),
        ("/v1/models/digits/versions/9:predict", 404,
         "Servable not found for request: Specific(digits, 9)"),
        ("/v1/models/digits/labels/nope:predict", 400, "Unrecognized servable version label: nope"),
    ]  # fmt: skip
    body = json.dumps({"instances": [[[0.0] * 8] * 8]})
    for path, status, message in cases:
        r = _post(server, path, body)
        assert r.status_code == status, (path, r.text)
        assert r.json() == {"error": message}
    r = _get(server, "/v1/models/nope")
    assert r.status_code == 404
    assert r.json() == {"error": "Could not find any versions of model nope"}
    r = _get(server, "/v1/models/digits/versions/9")
    assert r.json() == {"error": "Could not find version 9 of model digits"}


GOOD_IMAGE = [[0.5] * 8] * 8
BAD_BODIES = {
    "malformed JSON": ('{"instances": [[1, 2]', "JSON Parse error"),
    "empty body": ("", "JSON Parse error: The document is empty"),
    "not an object": ("[1, 2]", "Is not object"),
    "no instances or inputs": ('{"rows": [1]}', "Missing 'inputs' or 'instances' key"),
    "both instances and inputs": (
        json.dumps({"instances": [GOOD_IMAGE], "inputs": [GOOD_IMAGE]}),
        "expecting only one of 'inputs' or 'instances'",
    ),
    "empty instances": ('{"instances": []}', "No values in 'instances' array"),
    "wrong input name (row)": (
        json.dumps({"instances": [{"img": GOOD_IMAGE}]}),
        "does not have named input: img",
    ),
    "wrong input name (columnar)": (
        json.dumps({"inputs": {"img": [GOOD_IMAGE]}}),
        "Missing named input: image in 'inputs' object.",
    ),
    "wrong dtype": (
        json.dumps({"instances": [[["a"] * 8] * 8]}),
        'JSON Value: "a" Type: String is not of expected type: float',
    ),
    "ragged list": (
        json.dumps({"inputs": [[[0.1] * 8] * 7 + [[0.1] * 5]]}),
        "Encountered list at unexpected size: 5 at level: 2 expected size: 8",
    ),
    "wrong shape": (json.dumps({"instances": [[0.1, 0.2, 0.3]]}), ""),
    "signature_name not a string": ('{"signature_name": 3, "instances": [1]}',
                                    "'signature_name' key must be a string value."),
    "unknown signature": (json.dumps({"signature_name": "nope", "instances": [GOOD_IMAGE]}),
                          'Serving signature name: "nope" not found in signature def'),
}  # fmt: skip


@pytest.mark.points(0)
@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_input_is_a_400_with_tf_serving_error_json(server, case):
    body, message = BAD_BODIES[case]
    r = _post(server, "/v1/models/digits:predict", body)
    assert r.status_code == 400, r.text
    assert list(r.json()) == ["error"]
    assert isinstance(r.json()["error"], str) and r.json()["error"]
    assert message in r.json()["error"]
    assert _get(server, "/v1/models/digits").status_code == 200  # still serving


@pytest.mark.points(0)
def test_float_sent_to_an_int_model_is_refused(server):
    body = json.dumps({"instances": [[0.5] * 64]})
    r = _post(server, "/v1/models/digits_raw:predict", body)
    assert r.status_code == 400
    assert "is not of expected type: int32" in r.json()["error"]


@pytest.mark.points(0)
def test_malformed_url(server):
    r = _get(server, "/v1/modelz/digits")
    assert r.status_code == 400
    assert r.json() == {"error": "Malformed request: GET /v1/modelz/digits"}


@pytest.mark.points(0)
def test_grpc_bad_input_is_invalid_argument(grpc_client, digits):
    import grpc

    x, _ = digits
    cases = [
        ({"img": x}, "input tensor alias not found in signature: img"),
        ({"image": x.astype(np.float64)}, "to be float but double is provided"),
        ({"image": x.reshape(len(x), 64)}, ""),
        ({"image": x, "extra": x}, "input size does not match signature"),
    ]
    for inputs, message in cases:
        with pytest.raises(TFServingError) as err:
            grpc_client.predict("digits", inputs)
        assert err.value.status == grpc.StatusCode.INVALID_ARGUMENT.name, err.value
        assert message in err.value.message
    with pytest.raises(TFServingError) as err:
        grpc_client.predict("nope", {"image": x})
    assert err.value.status == "NOT_FOUND"
    assert err.value.message == "Servable not found for request: Latest(nope)"


@pytest.mark.points(0)
def test_prometheus_metrics_on_the_rest_port(server, rest, digits):
    rest.predict("digits", digits[0][:1])
    r = _get(server, "/monitoring/prometheus/metrics")
    assert r.status_code == 200
    assert ":tensorflow:serving:request_count" in r.text


# --------------------------------------------------------------------- string tensors (b64)
@pytest.mark.points(0)
def test_b64_string_tensors_in_and_out(server, digits, keras_predict):
    """api_rest.md "Encoding binary values": {"b64": ...} in; outputs named *_bytes come back
    the same way, other string outputs as text."""
    import base64

    x, _ = digits
    pixels = np.rint(x * 16).astype(np.uint8).reshape(len(x), 64)
    encoded = [{"b64": base64.b64encode(row.tobytes()).decode()} for row in pixels]
    want = [str(c) for c in keras_predict[2].argmax(1)]
    for body, key in (({"instances": encoded}, "predictions"), ({"inputs": encoded}, "outputs")):
        body["signature_name"] = "from_bytes"
        r = _post(server, "/v1/models/digits_raw:predict", json.dumps(body))
        assert r.status_code == 200, r.text
        answer = r.json()[key]
        rows = answer if key == "predictions" else [
            {k: answer[k][i] for k in answer} for i in range(len(x))
        ]  # fmt: skip
        assert [row["label"] for row in rows] == want
        assert [row["pixels_bytes"] for row in rows] == encoded
    bad = {"signature_name": "from_bytes", "instances": [{"b64": "not base64!"}]}
    r = _post(server, "/v1/models/digits_raw:predict", json.dumps(bad))
    assert r.status_code == 400 and "Unable to base64 decode" in r.json()["error"]
    extra_key = {"signature_name": "from_bytes", "inputs": [{"b64": "AA==", "x": 1}]}
    r = _post(server, "/v1/models/digits_raw:predict", json.dumps(extra_key))
    assert r.status_code == 400 and "not formatted correctly for base64" in r.json()["error"]


# --------------------------------------------------------------------- classify / regress
CLASSIFY_BODY = json.dumps({"examples": [{"image": [0.5] * 64}]})


@pytest.mark.points(0)
@pytest.mark.parametrize(
    ("verb", "signature", "message"),
    [
        ("classify", "", "No classification inputs found in SignatureDef"),
        ("regress", "", "No regression inputs found in SignatureDef"),
        ("regress", "classify", "Expected one output Tensor."),
        ("classify", "nope", "No signature was found with the name: nope"),
    ],
)
def test_classify_and_regress_on_predict_signatures_are_400(server, verb, signature, message):
    """The models export predict signatures; TF Serving refuses them for :classify/:regress
    with INVALID_ARGUMENT (classifier.cc, regressor.cc), over REST and gRPC alike."""
    body = json.loads(CLASSIFY_BODY)
    if signature:
        body["signature_name"] = signature
    r = _post(server, f"/v1/models/digits:{verb}", json.dumps(body))
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]


@pytest.mark.points(0)
def test_classify_request_shape_errors_and_grpc(server, grpc_client):
    import grpc
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    r = _post(server, "/v1/models/digits:classify", json.dumps({"instances": [1]}))
    assert r.status_code == 400
    assert "key 'examples' is expected and was not found" in r.json()["error"]
    r = _post(server, "/v1/models/nope:classify", CLASSIFY_BODY)
    assert r.status_code == 404
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "digits"
    request.input.example_list.examples.add()
    with pytest.raises(grpc.RpcError) as err:
        grpc_client.predictions.Classify(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "No classification inputs found" in err.value.details()
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "digits"
    with pytest.raises(grpc.RpcError) as err:
        grpc_client.predictions.Regress(regress, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
