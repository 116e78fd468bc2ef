"""A serial barcode scanner, simulated on a pseudo-terminal.

The agent opens `sim.path` exactly as it would open a real scanner's stable path
(`/dev/serial/by-id/usb-...`): it is a symlink to the pty's slave side. `unplug()` closes the pty
and removes the symlink (the agent's reads fail, as when a USB cable is pulled); `replug()`
creates a new pty (possibly another /dev/pts number) behind the same symlink.

    with SerialScannerSimulator() as sim:
        sim.scan("286543210987654321")   # sends prefix + AIM id + code + suffix + terminator
        sim.send_raw(b"\\xff\\x00junk\\r")  # anything at all
        sim.scan_after_cut_read("286543210987654321")  # a fault: a cut-off fragment, a pause, the code
"""

from __future__ import annotations

import os
import select
import shutil
import tempfile
import threading
import time
import tty
from pathlib import Path

DEFAULT_LINK_NAME = "usb-PosAgentSim_Barcode_Scanner_SIM0001-if00"


class SerialScannerSimulator:
    def __init__(
        self,
        link_path: str | os.PathLike[str] | None = None,
        *,
        terminator: bytes = b"\r",
        prefix: bytes = b"",
        suffix: bytes = b"",
        aim_id: str = "",
    ) -> None:
        self._own_dir: str | None = None
        if link_path is None:
            self._own_dir = tempfile.mkdtemp(prefix="posagent-sim-scanner-")
            link_path = Path(self._own_dir, "serial", "by-id", DEFAULT_LINK_NAME)
        self.path = str(link_path)
        self.terminator = terminator
        self.prefix = prefix
        self.suffix = suffix
        self.aim_id = aim_id
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_path: str | None = None

    # -- plugging ----------------------------------------------------------------------------

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def replug(self) -> None:
        """Plug the scanner in: a fresh pty behind the stable symlink."""
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            # Raw mode: no echo, no CR->LF translation, bytes pass exactly as a UART sends them.
            tty.setraw(slave)
            tty.setraw(master)
            os.set_blocking(master, False)
            self._master, self._slave = master, slave
            self.slave_path = os.ttyname(slave)
            link = Path(self.path)
            link.parent.mkdir(parents=True, exist_ok=True)
            tmp = link.with_name(link.name + ".tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.slave_path)
            tmp.replace(link)  # atomic: the agent never sees a half-made link

    def unplug(self) -> None:
        """Pull the cable: the pty goes away and so does the stable path."""
        with self._lock:
            Path(self.path).unlink(missing_ok=True)
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            self.slave_path = None

    # -- scanning ----------------------------------------------------------------------------

    def frame(self, code: str) -> bytes:
        """The bytes a scanner sends for one code, with this simulator's settings."""
        return self.prefix + (self.aim_id + code).encode() + self.suffix + self.terminator

    def scan(self, code: str) -> None:
        """One code as one burst (one write), as a real scanner sends it."""
        self.send_raw(self.frame(code))

    def scan_after_cut_read(self, code: str, *, fragment_chars: int = 8, pause: float = 0.3) -> None:
        """A fault: a read cut short (the start of `code`, no terminator), then after `pause`
        seconds the full code, as when a cashier scans again at once."""
        self.send_raw(self.frame(code)[: len(self.prefix) + len(self.aim_id) + fragment_chars])
        time.sleep(pause)
        self.scan(code)

    def send_raw(self, data: bytes) -> None:
        with self._lock:
            if self._master is None:
                raise OSError("scanner is unplugged")
            view = memoryview(data)
            while view:
                # A real UART drops what nobody reads; we wait a little, then say so.
                if not select.select([], [self._master], [], 1.0)[1]:
                    raise TimeoutError("nobody is reading the scanner's port")
                view = view[os.write(self._master, view) :]

    # -- lifetime ----------------------------------------------------------------------------

    def open(self) -> SerialScannerSimulator:
        self.replug()
        return self

    def close(self) -> None:
        self.unplug()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self) -> SerialScannerSimulator:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
