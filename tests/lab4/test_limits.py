"""Chaos: oversized requests to the stand-in. The real TF Serving reads any REST body
whole and takes gRPC messages up to 2 GiB; the stand-in refuses bodies over its limits (413 JSON,
RESOURCE_EXHAUSTED) without holding them, so its memory stays bounded. Its own server, with
small limits, so the test is quick."""

from __future__ import annotations

import contextlib
import json
import socket

import grpc
import numpy as np
import psutil
import pytest

from course_models import procs

pytestmark = [pytest.mark.slow, pytest.mark.integration]
LIMIT = 1024 * 1024  # 1 MiB, for REST and gRPC
OVERSIZED = 48 * 1024 * 1024  # what each test sends
RSS_BOUND = 24 * 1024 * 1024  # the server's RSS may grow by less than this per test


@pytest.fixture(scope="module")
def limited(exported, tmp_path_factory, standin):
    from lab4_tf_serving.settings import LAB_DIR

    proc, target = standin(
        tmp_path_factory.mktemp("lab4_limits"),
        exported,
        (LAB_DIR / "models.config").read_text(),
        rest_max_body_bytes=LIMIT,
        grpc_max_receive_bytes=LIMIT,
    )
    try:
        yield target, psutil.Process(proc.pid)
    finally:
        procs.stop(proc)


def _rss(process: psutil.Process) -> int:
    return process.memory_info().rss


def _send_raw(target, head: bytes, chunks) -> bytes:
    """Send a request by hand (so the framing is exactly what the test says) and read the
    answer; the server may close while the client is still sending."""
    host, port = target.rest.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused early: the answer is already on its way
        with contextlib.suppress(OSError):  # ENOTCONN when the server has closed already
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while piece := sock.recv(65536):
                answer += piece
    return answer


def _status_and_json(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _pieces(total: int, size: int = 1024 * 1024):
    block = b"[" + b"0.5," * (size // 4 - 1) + b"0.5]"
    sent = 0
    while sent < total:
        yield block
        sent += len(block)


@pytest.mark.points(0)
def test_rest_content_length_over_the_limit_is_413_at_once(limited):
    target, process = limited
    before = _rss(process)
    head = (
        b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\n" + f"Content-Length: {OVERSIZED}\r\n\r\n".encode()
    )
    status, body = _status_and_json(_send_raw(target, head, _pieces(OVERSIZED)))
    assert status == 413
    assert "larger than the limit of 1048576 bytes" in body["error"]
    assert _rss(process) - before < RSS_BOUND


@pytest.mark.points(0)
def test_rest_chunked_over_the_limit_is_413(limited):
    target, process = limited
    before = _rss(process)
    head = (
        b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    framed = (b"%x\r\n%s\r\n" % (len(p), p) for p in _pieces(OVERSIZED))
    status, body = _status_and_json(_send_raw(target, head, framed))
    assert status == 413
    assert "larger than the limit" in body["error"]
    assert _rss(process) - before < RSS_BOUND


@pytest.mark.points(0)
def test_rest_chunked_under_the_limit_is_parsed_whole(limited, digits):
    target, _ = limited
    x, _ = digits
    payload = json.dumps({"instances": x[:2].tolist()}).encode()
    head = (
        b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    framed = [b"%x\r\n%s\r\n" % (len(payload[i : i + 100]), payload[i : i + 100])
              for i in range(0, len(payload), 100)] + [b"0\r\n\r\n"]  # fmt: skip
    status, body = _status_and_json(_send_raw(target, head, framed))
    assert status == 200, body
    assert np.asarray(body["predictions"]).shape == (2, 10)


@pytest.mark.points(0)
def test_grpc_message_over_the_limit_is_resource_exhausted(limited):
    from lab4_tf_serving.client import GrpcClient, TFServingError

    target, process = limited
    before = _rss(process)
    client = GrpcClient(target.grpc)
    try:
        big = np.zeros((OVERSIZED // 256, 8, 8), dtype=np.float32)
        with pytest.raises(TFServingError) as err:
            client.predict("digits", {"image": big})
        assert err.value.status == grpc.StatusCode.RESOURCE_EXHAUSTED.name, err.value
        small = client.predict("digits", {"image": big[:2]})  # the server still answers
        assert small["probabilities"].shape == (2, 10)
    finally:
        client.close()
    assert _rss(process) - before < RSS_BOUND
