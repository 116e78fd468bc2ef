"""What every printer link offers, and the bounded write/status loops they share.

A transport moves bytes; it knows nothing of jobs. Every call is bounded: `write` raises
WriteTimeout (with the bytes that went out) when the printer stops taking data, `read_status`
returns None when no reply comes in time. Subclasses implement four small primitives.
"""

from __future__ import annotations

import contextlib
import time
from typing import Protocol, runtime_checkable

from drivers.printer.errors import PrinterError, PrinterUnavailable, WriteFailed, WriteTimeout
from drivers.printer.status import ForeignReply, reply_byte, status_request


@runtime_checkable
class Transport(Protocol):
    name: str  # the address, for messages
    can_read: bool  # False for one-way links: no status, never "fine" either
    exclusive: bool  # the printer serves one connection at a time: release it between jobs
    bytes_per_second: float  # a pessimistic link rate, to size write deadlines

    @property
    def is_open(self) -> bool: ...
    def open(self) -> None: ...
    def close(self) -> None: ...
    def write(self, data: bytes, timeout: float) -> int: ...
    def read_status(self, n: int, timeout: float) -> bytes | None: ...


class ChunkUncertain(Exception):
    """A chunk write failed and the link cannot say how much of it went out."""


class LinkTransport:
    """Shared loops over `_send`, `_recv`, `_discard_input`, `_open`, `_close`."""

    name = "printer"
    can_read = True
    exclusive = False
    bytes_per_second = 20_000.0
    chunk_size = 4096

    def __init__(self) -> None:
        self._opened = False

    # -- primitives ---------------------------------------------------------------------------

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _send(self, chunk: bytes, timeout: float) -> int:
        """Send some of `chunk` within `timeout`; 0 = the link took nothing in time."""
        raise NotImplementedError

    def _recv(self, timeout: float) -> bytes:
        """Bytes the printer sent, waiting up to `timeout`; b"" = nothing in time."""
        raise NotImplementedError

    def _discard_input(self) -> None:
        """Drop bytes nobody asked for yet (late replies, status-back blocks)."""

    def _abort(self) -> None:
        """A write failed: drop what still waits in our buffers (the job is failed anyway)."""

    # -- the public surface -------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._opened

    def open(self) -> None:
        if self._opened:
            return
        try:
            self._open()
        except PrinterError:
            raise
        except Exception as exc:  # every library has its own "not found": one clear error here
            raise PrinterUnavailable(f"{self.name}: cannot open the printer: {exc}") from exc
        self._opened = True

    def close(self) -> None:
        if self._opened:
            self._opened = False
            # Closing a dead link must not raise over the error that made us close it.
            with contextlib.suppress(Exception):
                self._close()

    def write(self, data: bytes, timeout: float) -> int:
        self._require_open()
        deadline = time.monotonic() + timeout
        sent = 0
        view = memoryview(data)
        while sent < len(data):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abort()
                raise WriteTimeout(
                    f"{self.name}: the printer stopped taking data after {sent} of {len(data)} bytes",
                    bytes_written=sent, total=len(data),
                )  # fmt: skip
            chunk = bytes(view[sent : sent + self.chunk_size])
            try:
                sent += self._send(chunk, remaining)
            except ChunkUncertain as exc:
                self._abort()
                raise WriteTimeout(
                    f"{self.name}: write timed out after at least {sent} of {len(data)} bytes ({exc})",
                    bytes_written=sent, total=len(data), any_sent=True,
                ) from None  # fmt: skip
            except OSError as exc:
                self._abort()
                raise WriteFailed(
                    f"{self.name}: write failed after {sent} of {len(data)} bytes: {exc}",
                    bytes_written=sent, total=len(data),
                ) from exc  # fmt: skip
        return sent

    def read_status(self, n: int, timeout: float) -> bytes | None:
        """Send DLE EOT n; return what came back up to the reply (or to the first byte that cannot be
        part of one), or None if nothing did. `status.reply_byte` judges the bytes."""
        if not self.can_read:
            return None
        request = status_request(n)
        self._require_open()
        with contextlib.suppress(OSError):
            self._discard_input()
        deadline = time.monotonic() + timeout
        try:
            self.write(request, timeout)
        except WriteFailed:
            return None
        received = b""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                received += self._recv(remaining)
            except OSError:
                break
            try:
                if reply_byte(received) is not None:
                    return received
            except ForeignReply:
                return received
        return received or None

    def _require_open(self) -> None:
        if not self._opened:
            raise PrinterUnavailable(f"{self.name}: the printer is not open")
