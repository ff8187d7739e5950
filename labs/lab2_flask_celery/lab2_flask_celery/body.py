"""Reading a JSON request body safely, whatever its framing.

Werkzeug's own limit on a chunked body stops reading at the limit and hands the app the
first ``max_content_length`` bytes as if they were the whole body (measured: a padded valid
record followed by garbage answered 200). Here we read one byte past the limit: more than the
limit is a 413, and a cut body is never parsed. Before answering 413 we read and drop what the
client is still sending (up to ``drain_limit``) so it can read the answer instead of seeing
a reset connection.
"""

from __future__ import annotations

from typing import IO, Any

from flask import request
from werkzeug.wsgi import get_input_stream

from course_models.contract import loads_strict
from lab2_flask_celery.errors import ApiError
from lab2_flask_celery.settings import Settings

CHUNK = 64 * 1024


def _read_up_to(stream: IO[bytes], n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = stream.read(min(CHUNK, n - got))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _drain(stream: IO[bytes], limit: int) -> bool:
    """Read and drop up to ``limit`` bytes; True when the body ended within it."""
    dropped = 0
    while dropped < limit:
        chunk = stream.read(min(CHUNK, limit - dropped))
        if not chunk:
            return True
        dropped += len(chunk)
    return False


def too_large(s: Settings, stream: IO[bytes]) -> ApiError:
    err = ApiError(
        413,
        "payload_too_large",
        f"request body is larger than {s.max_content_length} bytes (LAB2_MAX_CONTENT_LENGTH)",
        [{"field": "body", "message": f"at most {s.max_content_length} bytes"}],
    )
    if not _drain(stream, s.drain_limit):
        err.headers["Connection"] = "close"
    return err


def json_body(s: Settings) -> Any:
    """The parsed body, or ApiError 415/413 and BodyError 400 (via ``loads_strict``)."""
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send JSON with Content-Type: application/json (got {request.mimetype or 'none'!r})",
            [{"field": "Content-Type", "message": "must be application/json"}],
        )
    limit = s.max_content_length
    # No werkzeug limit: a chunked body (no Content-Length) comes through whole, and we
    # enforce the limit ourselves below.
    stream = get_input_stream(request.environ, max_content_length=None)
    if (request.content_length or 0) > limit:
        raise too_large(s, stream)
    raw = _read_up_to(stream, limit + 1)
    if len(raw) > limit:
        raise too_large(s, stream)
    return loads_strict(raw)
