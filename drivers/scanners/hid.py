"""USB keyboard-wedge scanners over evdev: a thin shell around `HidDecoder`.

The device is grabbed exclusively (EVIOCGRAB), so the scanner's keystrokes reach us and not the
ECR's window or a login prompt. Key codes are decoded by our own US-layout table
(`hid_keymap`), so no X server is needed. The device is opened by a stable path
(`/dev/input/by-id/usb-...-event-kbd`) and reopened with backoff when it goes away.
"""

from __future__ import annotations

import contextlib
import errno
import select
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from drivers.scanners.base import Backoff, DeviceWorker, EventSink
from drivers.scanners.events import DeviceState, DeviceWarning, ScanEvent, SourceKind
from drivers.scanners.framing import Code, FrameResult, FramingConfig, with_gap_default
from drivers.scanners.hid_keymap import KEYSTROKE_GAP, HidDecoder

_MAX_WAIT = 0.25  # select() wait when idle: few wake-ups, and bounds how fast stop() is noticed
# While a line is pending, short waits: a pause inside it is measured from the last quiet wait,
# so a long wait would hide up to its length of a pause (a cut read joined to the next code).
_PENDING_WAIT = 0.01
DEFAULT_INTER_CHAR_GAP = KEYSTROKE_GAP


class KeyEvent(Protocol):
    type: int
    code: int
    value: int


class InputDevice(Protocol):
    """The part of evdev.InputDevice we use (tests substitute their own)."""

    @property
    def fd(self) -> int: ...
    def grab(self) -> None: ...
    def read(self) -> Iterable[KeyEvent]: ...
    def close(self) -> None: ...


def open_evdev_device(path: str) -> InputDevice:
    import evdev  # noqa: PLC0415 - Linux only: imported when a HID scanner is actually used

    device: InputDevice = evdev.InputDevice(path)
    return device


class HidScanner(DeviceWorker):
    source = SourceKind.HID

    def __init__(
        self,
        path: str,
        sink: EventSink,
        *,
        framing: FramingConfig | None = None,
        backoff: Backoff | None = None,
        grab: bool = True,
        open_device: Callable[[str], InputDevice] = open_evdev_device,
    ) -> None:
        super().__init__(path, sink)
        self.framing = with_gap_default(framing, DEFAULT_INTER_CHAR_GAP)
        self.grab = grab
        self._backoff = backoff or Backoff()
        self._open_device = open_device

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                device = self._open_device(self.device)
            except OSError as exc:
                missing = exc.errno == errno.ENOENT
                self._set_state(DeviceState.RECONNECTING if missing else DeviceState.ERROR, _describe(exc))
                self._stopping.wait(self._backoff.next_delay())
                continue
            try:
                if self.grab:
                    device.grab()  # EBUSY: someone else (X server, another agent) holds it
                self._backoff.reset()
                self._set_state(DeviceState.CONNECTED)
                self._read_until_lost(device)
            except OSError as exc:
                lost = exc.errno in (errno.ENODEV, errno.ENOENT, errno.EIO)
                self._set_state(DeviceState.RECONNECTING if lost else DeviceState.ERROR, _describe(exc))
                self._stopping.wait(self._backoff.next_delay())
            finally:
                _close_quietly(device)  # closing also releases the grab

    def _read_until_lost(self, device: InputDevice) -> None:
        decoder = HidDecoder(self.framing)
        read_before = time.monotonic()  # events read next arrived after this (the previous read)
        while not self._stopping.is_set():
            deadline = decoder.deadline()
            wait = _MAX_WAIT if deadline is None else min(_PENDING_WAIT, max(0.0, deadline - time.monotonic()))
            started = time.monotonic()
            readable, _, _ = select.select([device.fd], [], [], wait)
            results: list[FrameResult] = []
            now = time.monotonic()
            if readable:
                for event in device.read():
                    results += decoder.feed(event.type, event.code, event.value, now, read_before)
                read_before = time.monotonic()
            else:  # quiet for the whole wait (not up to a late return)
                read_before = min(now, started + wait)
            results += decoder.tick(time.monotonic())
            self._publish(results)

    def _publish(self, results: list[FrameResult]) -> None:
        for result in results:
            if isinstance(result, Code):
                now = time.time()
                self._emit(ScanEvent(result.text, self.device, self.source, now, result.symbology, result.aim_id))
            else:
                self._emit(DeviceWarning(self.device, self.source, result.reason, time.time()))


def _describe(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno, str(exc.errno)) if isinstance(exc.errno, int) else type(exc).__name__
    return f"{name}: {exc.strerror or exc}"


def _close_quietly(device: InputDevice) -> None:
    with contextlib.suppress(OSError):
        device.close()
