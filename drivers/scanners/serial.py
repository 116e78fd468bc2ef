"""Serial scanners (USB CDC-ACM or RS-232) over pyserial: a thin shell around `Framer`.

The port is opened by a stable path (`/dev/serial/by-id/...`), so a scanner that is unplugged and
plugged back, possibly as another /dev/ttyACMn, is found again. Reads run in a worker thread;
results go to the sink as `ScanEvent`, `DeviceWarning` and `DeviceStatus`.
"""

from __future__ import annotations

import errno
import time

import serial  # pyserial

from drivers.scanners.base import Backoff, DeviceWorker, EventSink
from drivers.scanners.events import DeviceState, DeviceWarning, ScanEvent, SourceKind
from drivers.scanners.framing import BYTE_STREAM_GAP, Code, Framer, FrameResult, FramingConfig, with_gap_default

DEFAULT_INTER_CHAR_GAP = BYTE_STREAM_GAP

# How long one read waits for bytes. Short while a code is pending (idle timeouts fire on time),
# longer when idle (few wake-ups on a quiet till; also bounds how fast stop() is noticed).
_PENDING_WAIT = 0.01
_IDLE_WAIT = 0.25


class SerialScanner(DeviceWorker):
    source = SourceKind.SERIAL

    def __init__(
        self,
        path: str,
        sink: EventSink,
        *,
        baudrate: int = 9600,
        framing: FramingConfig | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(path, sink)
        self.baudrate = baudrate
        self.framing = with_gap_default(framing, DEFAULT_INTER_CHAR_GAP)
        self._backoff = backoff or Backoff()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                port = serial.Serial(self.device, self.baudrate, timeout=_IDLE_WAIT, exclusive=True)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._wait_to_retry(exc)
                continue
            self._backoff.reset()
            self._set_state(DeviceState.CONNECTED)
            try:
                self._read_until_lost(port)
            except (serial.SerialException, OSError) as exc:
                self._set_state(DeviceState.RECONNECTING, f"device lost: {_describe(exc)}")
            finally:
                port.close()

    def _read_until_lost(self, port: serial.Serial) -> None:
        framer = Framer(self.framing)
        read_before = time.monotonic()  # bytes read next arrived after this (the previous read)
        while not self._stopping.is_set():
            wait = _IDLE_WAIT if framer.deadline() is None else _PENDING_WAIT
            if port.timeout != wait:
                port.timeout = wait  # a termios call: only when it changes
            started = time.monotonic()
            data = port.read(max(1, port.in_waiting))
            now = time.monotonic()
            results = framer.feed(data, now, arrived_after=read_before) if data else []
            # An empty read proves the line quiet for its whole wait, not up to a late return.
            read_before = now if data else min(now, started + wait)
            deadline = framer.deadline()
            if deadline is not None and now >= deadline:
                results += framer.tick(now)
            self._publish(results)

    def _publish(self, results: list[FrameResult]) -> None:
        for result in results:
            if isinstance(result, Code):
                event = ScanEvent(result.text, self.device, self.source, time.time(), result.symbology, result.aim_id)
                self._emit(event)
            else:
                self._emit(DeviceWarning(self.device, self.source, result.reason, time.time()))

    def _wait_to_retry(self, exc: OSError | ValueError) -> None:
        # Missing device: it is unplugged, keep looking. Permission denied and the like need a
        # technician: report ERROR, but keep retrying (it may be fixed without a restart).
        missing = isinstance(exc, OSError) and exc.errno == errno.ENOENT
        self._set_state(DeviceState.RECONNECTING if missing else DeviceState.ERROR, _describe(exc))
        self._stopping.wait(self._backoff.next_delay())


def _describe(exc: BaseException) -> str:
    """A short reason for a status line (pyserial's SerialException is an OSError)."""
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        return f"{errno.errorcode.get(exc.errno, str(exc.errno))}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"
