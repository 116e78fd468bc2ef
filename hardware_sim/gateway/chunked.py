"""Reading a `Transfer-Encoding: chunked` request body (RFC 9112 §7.1), as any real HTTP server does.

`http.server` leaves this to the handler. Chunk extensions and trailer fields are read and ignored.
A malformed framing or a body over the limit raises `ChunkedError` with the HTTP status to answer:
the body's end is then unknown, so the connection must be closed after the answer."""

from __future__ import annotations

from typing import Protocol


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...
    def readline(self, size: int, /) -> bytes: ...


MAX_LINE = 4096  # a chunk-size line or a trailer line; real ones are a few bytes
MAX_TRAILERS = 64


class ChunkedError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_chunked(stream: Readable, limit: int) -> bytes:
    body = bytearray()
    while True:
        size_field = _line(stream).split(b";", 1)[0].strip()
        try:
            if not size_field or size_field.startswith((b"+", b"-", b"0x", b"0X")):
                raise ValueError
            size = int(size_field, 16)
        except ValueError:
            raise ChunkedError(400, "malformed chunk size") from None
        if size == 0:
            break
        if len(body) + size > limit:
            raise ChunkedError(413, f"chunked body larger than {limit} bytes")
        data = stream.read(size)
        if len(data) != size:
            raise ChunkedError(400, "chunked body cut short")
        body += data
        if _line(stream) != b"":
            raise ChunkedError(400, "chunk data not followed by CRLF")
    for _ in range(MAX_TRAILERS + 1):  # trailer fields, up to the empty line
        if not _line(stream):
            return bytes(body)
    raise ChunkedError(400, "too many trailer fields")


def _line(stream: Readable) -> bytes:
    line = stream.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ChunkedError(400, "chunk framing line too long")
    if not line.endswith(b"\n"):
        raise ChunkedError(400, "chunked body cut short")
    return line.rstrip(b"\r\n")
