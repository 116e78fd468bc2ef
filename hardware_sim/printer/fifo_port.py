"""File transport: a named pipe standing in for a printer device file such as /dev/usb/lp0.

Each writer session (open, write, close) is one stream: closing the file ends the job in
progress, as the end of a TCP connection does. A writer that opens the pipe before the previous
one has been read to the end joins its stream (a pipe cannot tell them apart). The pipe is
one-way, so status requests get no reply (as with python-escpos' File printer). `stall` and
`slow_bps` apply as on the other transports.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import threading
from pathlib import Path

from hardware_sim.printer.device import SimulatedPrinter
from hardware_sim.printer.pacing import ReadPacer

_TICK = 0.02


class FifoPrinterPort:
    def __init__(self, printer: SimulatedPrinter, path: Path) -> None:
        self.printer = printer
        self.path = path
        if path.exists() and not stat.S_ISFIFO(path.stat().st_mode):
            raise FileExistsError(f"{path} exists and is not a named pipe")
        self._created = not path.exists()
        if self._created:
            os.mkfifo(path, 0o600)
        # Non-blocking, so opening does not wait for a writer and the thread can be stopped.
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="printer-sim-fifo", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self.printer.end_of_stream()
        if self._created:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def _run(self) -> None:
        pacer = ReadPacer(self.printer)
        in_stream = False
        while not self._stop.is_set():
            budget = pacer.budget(4096)
            if not budget:
                self._stop.wait(_TICK)
                continue
            ready, _, _ = select.select([self._fd], [], [], _TICK)
            if not ready:
                continue
            try:
                data = os.read(self._fd, budget)
            except (BlockingIOError, InterruptedError):
                continue
            if data:
                in_stream = True
                pacer.spent(len(data))
                self.printer.receive(data)  # replies have nowhere to go on a one-way pipe
                continue
            # EOF: no writer has the file open. End the last writer's stream. We keep our end open
            # (closing it could drop bytes of a writer arriving right now); with no writer the pipe
            # reads as EOF at once, so wait a tick rather than spin.
            if in_stream:
                self.printer.end_of_stream()
                in_stream = False
            self._stop.wait(_TICK)
