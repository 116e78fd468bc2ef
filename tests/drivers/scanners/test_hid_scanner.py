"""The evdev shell, driven by a fake input device replaying recorded key events."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import evdev.ecodes as e

from drivers.scanners.base import Backoff
from drivers.scanners.events import DeviceState, SourceKind
from drivers.scanners.hid import HidScanner, InputDevice
from tests.drivers.scanners.collector import Collector
from tests.drivers.scanners.test_hid_keymap import press, typed

PATH = "/dev/input/by-id/usb-Test_Barcode_Scanner-event-kbd"


@dataclass
class Event:
    type: int
    code: int
    value: int


class FakeInputDevice:
    """A readable fd (a pipe) plus a queue of events; `unplug()` makes reads fail like the kernel."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self.grabbed = False
        self.closed = False
        self.gone = False

    @property
    def fd(self) -> int:
        return self._read_fd

    def grab(self) -> None:
        self.grabbed = True

    def send(self, events: Iterable[tuple[int, int, int]]) -> None:
        with self._lock:
            self._pending += [Event(*ev) for ev in events]
        os.write(self._write_fd, b"x")

    def unplug(self) -> None:
        self.gone = True
        os.write(self._write_fd, b"x")

    def read(self) -> list[Event]:
        os.read(self._read_fd, 4096)
        if self.gone:
            raise OSError(errno.ENODEV, "No such device")
        with self._lock:
            events, self._pending = self._pending, []
        return events

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._read_fd)
            os.close(self._write_fd)


class Plugs:
    """Hands out devices; None means 'not plugged in' (ENOENT)."""

    def __init__(self, *devices: FakeInputDevice | None) -> None:
        self._devices = list(devices)
        self.opened: list[str] = []

    def __call__(self, path: str) -> InputDevice:
        self.opened.append(path)
        device = self._devices.pop(0) if self._devices else None
        if device is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return device


def test_keystrokes_become_scan_events_and_the_device_is_grabbed() -> None:
    device, collector = FakeInputDevice(), Collector()
    with HidScanner(PATH, collector, open_device=Plugs(device)):
        collector.wait_state(DeviceState.CONNECTED)
        device.send(typed("286543210987654321") + typed("VIP0001234"))
        scans = collector.wait_scans(2)
    assert [s.code for s in scans] == ["286543210987654321", "VIP0001234"]
    assert all(s.source is SourceKind.HID and s.device == PATH for s in scans)
    assert device.grabbed and device.closed


def test_garbage_keys_are_a_warning() -> None:
    device, collector = FakeInputDevice(), Collector()
    with HidScanner(PATH, collector, open_device=Plugs(device)):
        collector.wait_state(DeviceState.CONNECTED)
        device.send(press(e.KEY_1) + press(e.KEY_F7) + press(e.KEY_ENTER) + typed("OK"))
        collector.wait_scans(1)
    assert [s.code for s in collector.scans()] == ["OK"]
    assert len(collector.warnings()) == 1


def test_unplugged_keyboard_is_reopened_by_its_stable_path() -> None:
    first, second, collector = FakeInputDevice(), FakeInputDevice(), Collector()
    plugs = Plugs(first, None, second)
    with HidScanner(PATH, collector, open_device=plugs, backoff=Backoff(initial=0.01, maximum=0.05)):
        collector.wait_state(DeviceState.CONNECTED)
        first.unplug()
        collector.wait_state(DeviceState.CONNECTED, occurrences=2)
        second.send(typed("AFTER"))
        collector.wait_scans(1)
    assert [s.code for s in collector.scans()] == ["AFTER"]
    assert collector.states()[:3] == [DeviceState.CONNECTED, DeviceState.RECONNECTING, DeviceState.CONNECTED]
    assert plugs.opened == [PATH, PATH, PATH]


def test_a_device_someone_else_grabbed_is_an_error_state() -> None:
    class Busy(FakeInputDevice):
        def grab(self) -> None:
            raise OSError(errno.EBUSY, "Device or resource busy")

    busy, collector = Busy(), Collector()
    with HidScanner(PATH, collector, open_device=Plugs(busy), backoff=Backoff(initial=0.01, maximum=0.05)):
        collector.wait_state(DeviceState.ERROR)
    assert busy.closed


def test_a_cut_read_then_the_full_code_gives_the_code_alone() -> None:
    device, collector = FakeInputDevice(), Collector()
    with HidScanner(PATH, collector, open_device=Plugs(device)):
        collector.wait_state(DeviceState.CONNECTED)
        device.send(typed("28654321")[:-6])  # the keys of a fragment, no Enter
        time.sleep(0.5)  # over the HID default gap (0.2 s), under a second
        device.send(typed("286543210987654321"))
        collector.wait_scans(1)
    assert [s.code for s in collector.scans()] == ["286543210987654321"]
    [warning] = collector.warnings()
    assert "fragment dropped" in warning.reason and "2865" not in warning.reason
