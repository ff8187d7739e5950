"""TF Serving's REST API (g3doc/api_rest.md) on the standard library's threading HTTP server.

Routes and error JSON follow model_servers/http_rest_api_util.cc: the same two path regexes, a
``{"error": "..."}`` body for every failure and gRPC codes mapped to HTTP as http_server.cc does.
One addition the real server does not have: a body limit (``LAB4_REST_MAX_BODY_BYTES``), answered
413 before the body is read (see ``body.py``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from lab4_tf_serving import inference, tensors
from lab4_tf_serving.body import BodyTooLarge, MalformedBody, RequestBody
from lab4_tf_serving.core import ServerCore, ServingError, invalid

log = logging.getLogger("lab4.rest")

PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.I,
)
STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.I
)
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def model_spec(name: str, version: str | None, label: str | None):
    if version is not None and label is not None:
        raise invalid(
            f"Both model version ({version}) and model version label ({label}) cannot be supplied."
        )
    return name, int(version) if version else None, unquote(label) if label else ""


def metadata_json(core: ServerCore, name: str, version: int | None, label: str) -> str:
    """GetModelMetadataResponse printed the way http_rest_api_util.cc's ToJsonString does."""
    if not name:
        raise invalid("Missing model name in request.")
    response = metadata_response(core, name, version, label, ["signature_def"])
    spec = json_format.MessageToDict(
        response.model_spec,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
    )
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    sigs = json_format.MessageToDict(
        sig_map, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
    return json.dumps({"model_spec": spec, "metadata": {"signature_def": sigs}}, indent=1)


def metadata_response(core: ServerCore, name: str, version: int | None, label: str, fields):
    """get_model_metadata_impl.cc: only the ``signature_def`` field exists."""
    if not fields:
        raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
    for f in fields:
        if f != "signature_def":
            raise invalid(f"Metadata field {f} is not supported")
    servable = core.servable(name, version, label)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.CopyFrom(model_pb2.ModelSpec(name=name))
    response.model_spec.version.value = servable.version
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in servable.meta_graph.signature_def.items():
        sig_map.signature_def[key].CopyFrom(sig)
    response.metadata["signature_def"].Pack(sig_map)
    return response


def status_json(core: ServerCore, name: str, version: int | None, label: str) -> str:
    response = core.status(name, version, label)
    return json.dumps(
        json_format.MessageToDict(response, always_print_fields_with_no_presence=True), indent=1
    )


def predict_json(core: ServerCore, name: str, version: int | None, label: str, body: bytes) -> str:
    # Same order as the real handler: parse the body, then find the servable and signature.
    doc = tensors.parse_body(body)
    servable = core.servable(name, version, label)
    signature = doc.get("signature_name", "") or "serving_default"
    if signature not in servable.meta_graph.signature_def:
        raise invalid(f'Serving signature name: "{signature}" not found in signature def')
    sigdef = servable.meta_graph.signature_def[signature]
    inputs, fmt = tensors.request_inputs(doc, sigdef.inputs)
    _, outputs = tensors.run_predict(servable, signature, inputs)
    return json.dumps(tensors.outputs_to_json(outputs, fmt))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving's evhttp server
    disable_nagle_algorithm = True  # headers and body leave in separate writes: no 40 ms stalls
    server_version = "lab4-tfserving-standin"
    core: ServerCore
    prometheus_path: str | None = None
    max_body: int = 16 * 1024 * 1024

    def log_message(self, format, *args):
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _refuse(self, status: int, message: str) -> None:
        """Answer now, then close: what is left of the body is never parsed."""
        self.close_connection = True
        self._reply(status, json.dumps({"error": message}))

    def handle_expect_100(self) -> bool:
        """``Expect: 100-continue`` (curl, over 1 MB): refuse before the client sends a byte."""
        try:
            RequestBody(self.headers, self.rfile, self.max_body).check_length()
        except (BodyTooLarge, MalformedBody) as exc:
            self._refuse(exc.status, str(exc))
            return False
        return super().handle_expect_100()

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _read_body(self, method: str) -> bytes | None:
        if method != "POST":
            return b""
        body = RequestBody(self.headers, self.rfile, self.max_body)
        try:
            return body.read()
        except (BodyTooLarge, MalformedBody) as exc:
            self._refuse(exc.status, str(exc))
            body.drain(self.connection)
            return None

    def _handle(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        body = self._read_body(method)
        if body is None:
            return
        if self.prometheus_path and path == self.prometheus_path and method == "GET":
            self._reply(200, self.core.metrics.render(), "text/plain; version=0.0.4")
            return
        if not re.fullmatch(r"/v1/.*", path, re.I):
            self._reply(404, "")  # TF Serving's dispatcher ignores other paths
            return
        start = time.perf_counter()
        try:
            code, status, text = grpc.StatusCode.OK, 200, self._dispatch(method, path, body)
        except ServingError as exc:
            code = exc.code
            status, text = HTTP_STATUS.get(exc.code, 500), json.dumps({"error": exc.message})
        except Exception as exc:  # a stand-in bug must still answer in TF Serving's error shape
            log.exception("internal error on %s %s", method, path)
            code = grpc.StatusCode.INTERNAL
            status, text = 500, json.dumps({"error": f"Internal: {exc}"})
        if (m := PREDICT_RE.fullmatch(path)) and method == "POST":
            api = m.group(4).capitalize()
            self.core.metrics.observe("REST", m.group(1), api, code, time.perf_counter() - start)
        self._reply(status, text)

    def _dispatch(self, method: str, path: str, body: bytes) -> str:
        if method == "POST" and (m := PREDICT_RE.fullmatch(path)):
            name, version, label = model_spec(unquote(m.group(1)), m.group(2), m.group(3))
            verb = m.group(4).lower()
            if verb == "predict":
                return predict_json(self.core, name, version, label, body)
            return inference.classify_or_regress_json(self.core, verb, name, version, label, body)
        if method == "GET" and (m := STATUS_RE.fullmatch(path)):
            name, version, label = model_spec(unquote(m.group(1) or ""), m.group(2), m.group(3))
            if m.group(4):
                return metadata_json(self.core, name, version, label)
            return status_json(self.core, name, version, label)
        raise invalid(f"Malformed request: {method} {path}")


def make_server(
    core: ServerCore,
    host: str,
    port: int,
    prometheus_path: str | None,
    max_body: int = Handler.max_body,
):
    attrs = {"core": core, "prometheus_path": prometheus_path, "max_body": max_body}
    server = ThreadingHTTPServer((host, port), type("BoundHandler", (Handler,), attrs))
    server.daemon_threads = True
    return server
