"""NDJSON framing for the ECR socket, sans I/O: bytes in, complete lines (or framing faults) out.

Lines are split on the byte 0x0A only (a stray CR before it is tolerated and stripped), so UTF-8
never confuses the splitter. A line longer than the limit is reported once, as `Oversized`, the
moment it crosses the limit, and its bytes are dropped up to the next newline: the connection
survives a bad line without buffering it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE_BYTES = 64 * 1024

# The first bytes of anything that speaks HTTP to us: a browser, curl, a misconfigured proxy.
_HTTP_PREFIXES = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ",
                  b"TRACE ", b"HTTP/", b"Host:", b"host:")  # fmt: skip


@dataclass(frozen=True)
class Line:
    data: bytes


@dataclass(frozen=True)
class Oversized:
    limit: int


Frame = Line | Oversized


class LineFramer:
    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._discarding = False  # inside an oversized line, waiting for its newline

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            chunk = data[start:end]
            if not self._discarding:
                if len(self._buffer) + len(chunk) > self.max_line:
                    self._discarding = True
                    self._buffer.clear()
                    frames.append(Oversized(self.max_line))
                else:
                    self._buffer += chunk
            if newline < 0:
                break
            if self._discarding:
                self._discarding = False
            else:
                line = bytes(self._buffer)
                self._buffer.clear()
                if line.endswith(b"\r"):
                    line = line[:-1]
                if line.strip():
                    frames.append(Line(line))
            start = newline + 1
        return frames


def looks_like_http(line: bytes) -> bool:
    return line.lstrip().startswith(_HTTP_PREFIXES)
