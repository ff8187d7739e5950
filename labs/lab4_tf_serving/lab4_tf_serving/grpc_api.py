"""TF Serving's gRPC services with the official stubs from tensorflow-serving-api:
PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus,
HandleReloadConfigRequest)."""

from __future__ import annotations

import logging
import time
from concurrent import futures

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from lab4_tf_serving import inference, tensors
from lab4_tf_serving.core import ServerCore, ServingError, invalid
from lab4_tf_serving.rest import metadata_response

log = logging.getLogger("lab4.grpc")
# TF Serving sets the maximum message size to INT32_MAX (server.cc, SetMaxMessageSize); the
# stand-in receives at most LAB4_GRPC_MAX_RECEIVE_BYTES (over it: RESOURCE_EXHAUSTED, refused by
# gRPC itself) and sends without a limit.
DEFAULT_MAX_RECEIVE = 16 * 1024 * 1024


def _spec(model_spec):
    version = model_spec.version.value if model_spec.HasField("version") else None
    if version is not None and model_spec.version_label:
        raise invalid(
            f"Both model version ({version}) and model version label "
            f"({model_spec.version_label}) cannot be supplied."
        )
    return model_spec.name, version, model_spec.version_label


def _abort(context, exc: ServingError):
    context.abort(exc.code, exc.message)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core: ServerCore):
        self.core = core

    def Predict(self, request, context):
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            name, version, label = _spec(request.model_spec)
            servable = self.core.servable(name, version, label)
            inputs = {}
            for alias, proto in request.inputs.items():
                try:
                    inputs[alias] = tf.make_ndarray(proto)
                except Exception as exc:
                    raise invalid(f"tensor parsing error: {alias}") from exc
            signature, outputs = tensors.run_predict(
                servable, request.model_spec.signature_name, inputs, list(request.output_filter)
            )
            response = predict_pb2.PredictResponse()
            response.model_spec.name = name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = signature
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response
        except ServingError as exc:
            code = exc.code
            _abort(context, exc)
        finally:
            self.core.metrics.observe(
                "GRPC", request.model_spec.name, "Predict", code, time.perf_counter() - start
            )

    def GetModelMetadata(self, request, context):
        try:
            name, version, label = _spec(request.model_spec)
            return metadata_response(self.core, name, version, label, list(request.metadata_field))
        except ServingError as exc:
            _abort(context, exc)

    def _refuse(self, method: str, request, context):
        try:
            name, version, label = _spec(request.model_spec)
            inference.refuse(
                self.core, method, name, version, label, request.model_spec.signature_name
            )
        except ServingError as exc:
            _abort(context, exc)

    def Classify(self, request, context):
        self._refuse("classify", request, context)

    def Regress(self, request, context):
        self._refuse("regress", request, context)

    def MultiInference(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not implemented")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: ServerCore):
        self.core = core

    def GetModelStatus(self, request, context):
        try:
            if not request.HasField("model_spec"):
                raise invalid("Missing ModelSpec")
            name, version, label = _spec(request.model_spec)
            return self.core.status(name, version, label)
        except ServingError as exc:
            _abort(context, exc)

    def HandleReloadConfigRequest(self, request, context):
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.core.apply_config(request.config)
            response.status.error_code = 0
        except ServingError as exc:
            response.status.error_code = exc.code.value[0]
            response.status.error_message = exc.message
        return response


def make_server(
    core: ServerCore,
    host: str,
    port: int,
    workers: int = 8,
    max_receive: int = DEFAULT_MAX_RECEIVE,
) -> grpc.Server:
    options = [
        ("grpc.max_send_message_length", -1),
        ("grpc.max_receive_message_length", max_receive),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(core), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(core), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC port {host}:{port}")
    return server
