"""In-memory counters for the inspection endpoint (since the simulator started)."""

from __future__ import annotations

import threading
from collections import Counter


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def call(self, method: str) -> None:
        with self._lock:
            self.calls[method] += 1

    def duplicate(self, kind: str) -> None:
        with self._lock:
            self.duplicates[kind] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "calls_total": sum(self.calls.values()),
                "duplicates_absorbed": dict(self.duplicates),
                "duplicates_absorbed_total": sum(self.duplicates.values()),
                "faults_injected": dict(self.faults),
            }
