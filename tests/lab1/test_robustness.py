"""No input gives a 5xx or a non-JSON error: the shared hostile bodies, wrong content types,
and bodies over the limit (Content-Length or chunked) answered with a 413 the client can read
even while it is still sending. The lab's own guarantees, not a task: 0 points, always run."""

from __future__ import annotations

import json
import socket
import threading
from urllib.parse import urlsplit

import pytest

from course_models import contract
from course_models.tasks import TaskNotImplemented

pytestmark = pytest.mark.points(0)
PREDICT = "/v1/churn/predict"
BIG = 20 * 1024 * 1024  # over any sensible LAB1_MAX_BODY_BYTES
MIN_BODY_LIMIT = 1024  # the smallest LAB1_MAX_BODY_BYTES allows


def fields_named(response) -> list[str]:
    return [err["field"] for err in response.json()["detail"]]


@pytest.mark.parametrize("hostile", contract.hostile_bodies(), ids=lambda h: h.name)
def test_hostile_body_is_a_4xx_json_naming_the_field(api, hostile):
    r = api.post(PREDICT, content=hostile.body, headers={"content-type": hostile.content_type})
    # A body past the lab's size limit (deep_nesting is 200 kB) is refused before it is parsed.
    too_big = len(hostile.body) > MIN_BODY_LIMIT and r.status_code == 413
    assert too_big or r.status_code == hostile.expected_status, r.text[:300]
    assert r.headers["content-type"].startswith("application/json")
    assert (hostile.field if not too_big else "body") in fields_named(r)


def test_deep_nesting_within_the_size_limit_is_400(api):
    r = api.post(
        PREDICT, content=b"[" * 40 + b"]" * 40, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["detail"][0]["type"] == "json_too_deep"


@pytest.mark.parametrize("path", ["/v2/churn/predict", "/lab/batched/predict"])
def test_hostile_bodies_never_5xx_on_any_predict_route(api, path):
    for hostile in contract.hostile_bodies(2):
        r = api.post(path, content=hostile.body, headers={"content-type": hostile.content_type})
        assert 400 <= r.status_code < 500, (hostile.name, r.status_code, r.text[:200])
        r.json()


def test_oversized_body_with_content_length_is_413(api):
    r = api.post(PREDICT, content=b" " * BIG, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert fields_named(r) == ["body"]
    assert r.json()["detail"][0]["type"] == "body_too_large"


def test_oversized_chunked_body_is_413(api):
    """No Content-Length (httpx sends a generator chunked): the limit is enforced while reading."""

    def chunks():
        yield b'{"instances": ['
        for _ in range(BIG // 65536):
            yield b" " * 65536
        yield b"]}"

    r = api.post(PREDICT, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert fields_named(r) == ["body"]


def _raw_upload(url: str, chunked: bool) -> tuple[bytes, list[BaseException]]:
    """Send a 20 MB body from one thread while another reads the answer on the same socket."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    framing = b"Transfer-Encoding: chunked" if chunked else f"Content-Length: {BIG}".encode()
    head = (
        f"POST {PREDICT} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + framing
        + b"\r\n\r\n"
    )
    errors: list[BaseException] = []

    def upload() -> None:
        block = b" " * 65536
        try:
            sock.sendall(head)
            for _ in range(BIG // len(block)):
                sock.sendall(b"10000\r\n" + block + b"\r\n" if chunked else block)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as exc:
            errors.append(exc)

    sender = threading.Thread(target=upload)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sender.join(60)
        sock.close()
    return answer, errors


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_413_is_readable_while_the_client_is_still_sending(lab_url, chunked):
    answer, errors = _raw_upload(lab_url, chunked)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["detail"][0]["field"] == "body"
    # The server read the rest of the upload instead of resetting the connection under it.
    assert errors == [], errors


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_415(api, record_v1, content_type):
    r = api.post(PREDICT, content=json.dumps(record_v1), headers={"content-type": content_type})
    assert r.status_code == 415
    assert fields_named(r) == ["body"]


def test_json_content_type_variants_are_accepted(api, record_v1):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        r = api.post(PREDICT, content=json.dumps(record_v1), headers={"content-type": content_type})
        assert r.status_code == 200, (content_type, r.text)


def test_a_stubbed_task_answers_501_naming_it(serve_app, trained_artifacts, monkeypatch):
    """What the student edition's stubs do: a clear 501 JSON, no traceback, server alive."""
    from lab1_fastapi.model import ModelRegistry

    def stub(self):
        raise TaskNotImplemented("1.1", "model loading and the /ready answer")

    monkeypatch.setattr(ModelRegistry, "readiness", stub)
    with serve_app(artifacts_dir=trained_artifacts) as client:
        r = client.get("/ready")
        assert r.status_code == 501
        assert r.json() == {
            "error": "task 1.1 not implemented: model loading and the /ready answer",
            "task": "1.1",
        }
        assert client.get("/health").status_code == 200


def test_unknown_route_is_json(api):
    r = api.get("/nope")
    assert r.status_code == 404
    assert r.json()["detail"]
