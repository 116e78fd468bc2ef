"""A thread-safe event sink for tests: collects events, waits (bounded) for one that matches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from drivers.scanners.events import DeviceState, DeviceStatus, DeviceWarning, ScanEvent, ScannerEvent


class Collector:
    def __init__(self) -> None:
        self.events: list[ScannerEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: ScannerEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[ScannerEvent]], bool], timeout: float = 10.0) -> None:
        """Bounded wait; the timeout is a safety net, not a performance assertion."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.events), timeout):
                raise AssertionError(f"timed out; events so far: {self.events}")

    def scans(self) -> list[ScanEvent]:
        return [e for e in self.events if isinstance(e, ScanEvent)]

    def warnings(self) -> list[DeviceWarning]:
        return [e for e in self.events if isinstance(e, DeviceWarning)]

    def states(self) -> list[DeviceState]:
        return [e.state for e in self.events if isinstance(e, DeviceStatus)]

    def wait_scans(self, n: int) -> list[ScanEvent]:
        self.wait_for(lambda _: len(self.scans()) >= n)
        return self.scans()

    def wait_state(self, state: DeviceState, occurrences: int = 1) -> None:
        self.wait_for(lambda _: self.states().count(state) >= occurrences)


def poll_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Bounded polling for conditions no event announces."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        time.sleep(interval)
