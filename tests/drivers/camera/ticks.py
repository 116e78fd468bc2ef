"""A clock that moves one millisecond each time it is read: read timings without real time."""

from __future__ import annotations


class Ticks:
    def __init__(self, step: float = 0.001) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now
