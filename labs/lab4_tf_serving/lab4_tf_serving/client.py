"""REST (httpx) and gRPC (PredictionServiceStub) clients that return the same NumPy arrays.

Both work against the real TF Serving and the stand-in alike; nothing here knows which it is.
"""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from course_models.tasks import TaskNotImplemented  # noqa: F401 - raised by the task stubs

UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


class TFServingError(RuntimeError):
    """An error answer: HTTP status (REST) or gRPC code, and TF Serving's message."""

    def __init__(self, status: int | str, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def _model_path(model: str, version: int | None, label: str | None) -> str:
    path = f"/v1/models/{model}"
    if version is not None:
        path += f"/versions/{version}"
    elif label:
        path += f"/labels/{label}"
    return path


class RestClient:
    def __init__(self, base_url: str, timeout: float = 60.0):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _json(self, response: httpx.Response) -> Any:
        body = response.json()
        if response.status_code != 200:
            raise TFServingError(response.status_code, body.get("error", str(body)))
        return body

    def status(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        return self._json(self.http.get(_model_path(model, version, label)))

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        return self._json(self.http.get(_model_path(model, version, label) + "/metadata"))

    def predict_raw(self, model: str, body: dict, version=None, label=None) -> dict:
        url = _model_path(model, version, label) + ":predict"
        return self._json(self.http.post(url, json=body))

    def predict(
        self,
        model: str,
        x: np.ndarray | dict[str, np.ndarray],
        version: int | None = None,
        label: str | None = None,
        signature: str | None = None,
        columnar: bool = False,
    ) -> np.ndarray | dict[str, np.ndarray]:
        """Row format sends ``{"instances": [...]}``; columnar sends ``{"inputs": ...}``."""
        # BEGIN TASK 4.2: the REST client's request bodies (row and columnar) and answers
        if isinstance(x, dict):
            data = {k: np.asarray(v).tolist() for k, v in x.items()}
        else:
            data = np.asarray(x).tolist()
        if columnar:
            body: dict[str, Any] = {"inputs": data}
        elif isinstance(data, dict):
            n = len(next(iter(data.values())))
            body = {"instances": [{k: v[i] for k, v in data.items()} for i in range(n)]}
        else:
            body = {"instances": data}
        if signature:
            body["signature_name"] = signature
        answer = self.predict_raw(model, body, version, label)
        result = answer["outputs"] if columnar else answer["predictions"]
        if isinstance(result, dict):
            return {k: np.asarray(v) for k, v in result.items()}
        if result and isinstance(result[0], dict):
            return {k: np.asarray([row[k] for row in result]) for k in result[0]}
        return np.asarray(result)
        # STUB
        # raise TaskNotImplemented("4.2", "RestClient.predict: row and columnar JSON bodies")
        # END TASK 4.2


class GrpcClient:
    def __init__(self, address: str, timeout: float = 60.0):
        self.channel = grpc.insecure_channel(address, options=UNLIMITED)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    @staticmethod
    def _spec(spec, model: str, version: int | None, label: str | None, signature=None) -> None:
        spec.name = model
        if version is not None:
            spec.version.value = version
        elif label:
            spec.version_label = label
        if signature:
            spec.signature_name = signature

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise TFServingError(exc.code().name, exc.details()) from exc

    # BEGIN TASK 4.3: the gRPC client: PredictRequest in, PredictResponse tensors out
    def request(
        self, model, inputs: dict[str, np.ndarray], version=None, label=None, signature=None
    ):
        """The PredictRequest protobuf (tensors via ``tf.make_tensor_proto``)."""
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, model, version, label, signature)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
        return request

    def predict(
        self,
        model: str,
        inputs: dict[str, np.ndarray],
        version: int | None = None,
        label: str | None = None,
        signature: str | None = None,
    ) -> dict[str, np.ndarray]:
        response = self.predict_response(model, inputs, version, label, signature)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    # STUB
    # def request(self, model, inputs, version=None, label=None, signature=None):
    #     raise TaskNotImplemented("4.3", "GrpcClient.request: the PredictRequest protobuf")
    #
    # def predict(self, model, inputs, version=None, label=None, signature=None):
    #     raise TaskNotImplemented("4.3", "GrpcClient.predict: the PredictResponse tensors")
    # END TASK 4.3

    def predict_response(self, model, inputs, version=None, label=None, signature=None):
        request = self.request(model, inputs, version, label, signature)
        return self._call(self.predictions.Predict, request)

    def status(self, model: str, version: int | None = None, label: str | None = None):
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, version, label)
        return self._call(self.models.GetModelStatus, request)

    def metadata(self, model: str, version: int | None = None, label: str | None = None):
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._spec(request.model_spec, model, version, label)
        request.metadata_field.append("signature_def")
        response = self._call(self.predictions.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        return response, signatures


def demo(
    rest_url: str, grpc_addr: str, model: str, version, label, n: int, columnar: bool = False
) -> int:
    """Classify ``n`` held-out digits over both APIs and show that the answers agree."""
    from course_models.datasets import load_digits_split

    _, x_test, _, y_test = load_digits_split()
    x = x_test[:n]
    rest, rpc = RestClient(rest_url), GrpcClient(grpc_addr)
    try:
        by_rest = rest.predict(model, x, version=version, label=label, columnar=columnar)
        by_grpc = rpc.predict(model, {"image": x}, version=version, label=label)["probabilities"]
    except TFServingError as exc:
        print(f"error {exc}")
        return 1
    finally:
        rest.close()
        rpc.close()
    print(f"true labels : {y_test[:n].tolist()}")
    print(f"REST argmax : {by_rest.argmax(1).tolist()}")
    print(f"gRPC argmax : {by_grpc.argmax(1).tolist()}")
    print(f"max |REST - gRPC| = {float(np.abs(by_rest - by_grpc).max()):.2e}")
    return 0
