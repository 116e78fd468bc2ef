"""Serial-printer transport: a pseudo-terminal the driver opens like /dev/ttyUSB0.

The slave side is put in raw mode so every byte passes unchanged. A serial line has no
"connection end", so jobs end at cuts (and when the simulator stops). `stall` and `slow_bps`
apply as on TCP; status replies are written back to the terminal.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty

from hardware_sim.printer.device import SimulatedPrinter
from hardware_sim.printer.pacing import ReadPacer

_TICK = 0.02


class PtyPrinterPort:
    def __init__(self, printer: SimulatedPrinter) -> None:
        self.printer = printer
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        os.set_blocking(self._master, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="printer-sim-pty", daemon=True)

    def start(self) -> None:
        self.printer.attach_replies(self._send)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.printer.attach_replies(None)
        self.printer.end_of_stream()
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _run(self) -> None:
        pacer = ReadPacer(self.printer)
        while not self._stop.is_set():
            budget = pacer.budget(4096)
            if not budget:
                self._stop.wait(_TICK)
                continue
            ready, _, _ = select.select([self._master], [], [], _TICK)
            if not ready:
                continue
            try:
                data = os.read(self._master, budget)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self._stop.wait(_TICK)  # EIO while nobody has the slave open
                continue
            pacer.spent(len(data))
            replies = self.printer.receive(data)
            if replies:
                self._send(replies)

    def _send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._master, data)
