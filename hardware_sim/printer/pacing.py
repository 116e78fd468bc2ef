"""How many bytes a port may read now: the printer's run-time states, shared by every port.

A stalled or full printer reads nothing; a slow one (`slow_bps`) reads through a token bucket
refilled at that rate (at most one second's worth banked); otherwise up to the port's chunk.
"""

from __future__ import annotations

import time

from hardware_sim.printer.device import SimulatedPrinter


class ReadPacer:
    def __init__(self, printer: SimulatedPrinter) -> None:
        self.printer = printer
        self._allowance = 0.0
        self._last = time.monotonic()

    def budget(self, chunk: int) -> int:
        """Bytes that may be read now (0: wait a tick). Call once per loop turn."""
        now = time.monotonic()
        bps = self.printer.slow_bps
        self._allowance = min(self._allowance + bps * (now - self._last), max(bps, 1)) if bps else 0.0
        self._last = now
        if self.printer.stall or self.printer.receive_full:
            return 0
        return min(chunk, int(self._allowance)) if bps else chunk

    def spent(self, count: int) -> None:
        if self.printer.slow_bps:
            self._allowance -= count
