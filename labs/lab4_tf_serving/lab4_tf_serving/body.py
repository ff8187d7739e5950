"""Reading a REST request body with a limit, whatever its framing (Content-Length or chunked).

The real TF Serving reads every body whole, with no limit (http_server.cc appends each chunk to
one string; libevent's default maximum body size is unlimited), so a single oversized request
can take the server's memory. The stand-in refuses a body over ``LAB4_REST_MAX_BODY_BYTES`` with
413 as soon as it knows: from ``Content-Length`` before reading a byte, for a chunked body as the
running total passes the limit. Nothing of a refused body is parsed, and what the client still
sends is read in small pieces and thrown away (a client that gets no chance to finish sending
sees a reset connection instead of the 413).
"""

from __future__ import annotations

import socket
import time
from email.message import Message
from typing import BinaryIO

PIECE = 64 * 1024
MAX_CHUNK_LINE = 1024
DRAIN_BYTES = 256 * 1024 * 1024  # after a refusal, discard at most this much ...
DRAIN_SECONDS = 10.0  # ... for at most this long, then close
DRAIN_IDLE_SECONDS = 1.0


class MalformedBody(ValueError):
    status = 400


class BodyTooLarge(ValueError):
    status = 413

    def __init__(self, size: int | None, limit: int):
        what = f"of {size} bytes" if size is not None else "(chunked, so far)"
        super().__init__(
            f"Request body {what} is larger than the limit of {limit} bytes "
            "(stand-in setting LAB4_REST_MAX_BODY_BYTES)"
        )


class RequestBody:
    def __init__(self, headers: Message, stream: BinaryIO, limit: int):
        self.headers = headers
        self.stream = stream
        self.limit = limit
        self.remaining: int | None = None  # declared bytes not read yet (Content-Length only)

    @property
    def chunked(self) -> bool:
        return "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()

    def check_length(self) -> int:
        """The declared length (0 if none); raise at once when it is over the limit."""
        if self.chunked:
            return 0
        text = self.headers.get("Content-Length")
        if not text:
            return 0
        if not text.strip().isdigit():
            raise MalformedBody(f"Invalid Content-Length: {text!r}")
        length = int(text)
        if length > self.limit:
            self.remaining = length
            raise BodyTooLarge(length, self.limit)
        return length

    def read(self) -> bytes:
        if self.chunked:
            return self._read_chunked()
        length = self.check_length()
        data = self.stream.read(length) if length else b""
        if len(data) != length:
            raise MalformedBody(f"Request body ended after {len(data)} of {length} bytes")
        return data

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.stream.readline(MAX_CHUNK_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise MalformedBody("Malformed chunked request body") from None
            if size == 0:
                self._skip_trailers()
                return b"".join(parts)
            total += size
            if total > self.limit:
                raise BodyTooLarge(None, self.limit)
            chunk = self.stream.read(size)
            if len(chunk) != size or self.stream.read(2) != b"\r\n":
                raise MalformedBody("Malformed chunked request body")
            parts.append(chunk)

    def _skip_trailers(self) -> None:
        while self.stream.readline(MAX_CHUNK_LINE) not in (b"\r\n", b"\n", b""):
            pass

    def drain(self, sock: socket.socket) -> None:
        """Discard what the client still sends (bounded in bytes and time), so that it reads
        the answer instead of a reset; the caller then closes the connection."""
        budget = DRAIN_BYTES if self.remaining is None else min(self.remaining, DRAIN_BYTES)
        deadline = time.monotonic() + DRAIN_SECONDS
        sock.settimeout(DRAIN_IDLE_SECONDS)
        try:
            while budget > 0 and time.monotonic() < deadline:
                piece = self.stream.read1(min(PIECE, budget))
                if not piece:
                    return
                budget -= len(piece)
        except OSError:  # idle timeout or a client that gave up: nothing left to wait for
            return
