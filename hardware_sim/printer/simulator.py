"""The printer simulator as one object, for tests in-process and for the CLI.

with PrinterSimulator(out_dir=tmp_path) as printer:      # TCP on 127.0.0.1, a free port
    escpos.printer.Network("127.0.0.1", port=printer.port).text("hi\\n")
    printer.set_state(paper="end")                        # the next status reply says so
    jobs = printer.wait_for_jobs(1)                       # JobRecord: png, bin, qr, stats
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from hardware_sim.printer.admin import AdminServer
from hardware_sim.printer.device import SimulatedPrinter
from hardware_sim.printer.engine import DEFAULT_RECEIVE_BUFFER
from hardware_sim.printer.fifo_port import FifoPrinterPort
from hardware_sim.printer.pty_port import PtyPrinterPort
from hardware_sim.printer.render import PAPER_WIDTHS
from hardware_sim.printer.server import TcpPrinterServer
from hardware_sim.printer.sink import JobRecord


class PrinterSimulator:
    """A network (and optionally serial) ESC/POS printer that renders what it prints to PNG files."""

    def __init__(
        self,
        out_dir: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        paper_mm: int = 80,
        width_dots: int | None = None,
        encoding: str | None = None,
        admin_port: int | None = None,
        pty: bool = False,
        fifo: Path | str | None = None,
        receive_buffer: int = DEFAULT_RECEIVE_BUFFER,
    ) -> None:
        if width_dots is None:
            if paper_mm not in PAPER_WIDTHS:
                raise ValueError(f"paper_mm must be one of {sorted(PAPER_WIDTHS)}, got {paper_mm}")
            width_dots = PAPER_WIDTHS[paper_mm]
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if out_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="printer-sim-")
            out_dir = self._tmp.name
        self.out_dir = Path(out_dir)
        self.device = SimulatedPrinter(self.out_dir, width_dots, encoding, receive_buffer)
        self._server = TcpPrinterServer(self.device, host, port)
        self._admin: AdminServer | None = None
        self._pty: PtyPrinterPort | None = None
        self._fifo: FifoPrinterPort | None = None
        try:
            if admin_port is not None:
                self._admin = AdminServer(self.device, host, admin_port)
            if pty:
                self._pty = PtyPrinterPort(self.device)
            if fifo is not None:
                self._fifo = FifoPrinterPort(self.device, Path(fifo))
        except OSError:
            self.close()  # do not leak the bound ports and descriptors
            raise
        self._started = False

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def admin_port(self) -> int | None:
        return self._admin.port if self._admin is not None else None

    @property
    def pty_path(self) -> str | None:
        return self._pty.path if self._pty is not None else None

    @property
    def fifo_path(self) -> Path | None:
        return self._fifo.path if self._fifo is not None else None

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        return self._server.connections

    def start(self) -> PrinterSimulator:
        if not self._started:
            self._server.start()
            if self._admin is not None:
                self._admin.start()
            if self._pty is not None:
                self._pty.start()
            if self._fifo is not None:
                self._fifo.start()
            self._started = True
        return self

    def close(self) -> None:
        """Stop serving; a job still in progress is finished (rendered) as at a connection end."""
        if self._pty is not None:
            self._pty.close()
        if self._fifo is not None:
            self._fifo.close()
        if self._admin is not None:
            self._admin.close()
        self._server.close()
        self._started = False

    def __enter__(self) -> PrinterSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def cleanup(self) -> None:
        """Remove the temporary output folder, if the simulator made one."""
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- control and inspection ---------------------------------------------------------------

    def set_state(self, **changes: Any) -> dict[str, Any]:
        """paper="ok"|"near_end"|"end", cover_open, offline, drawer_high, *_error, slow_bps, stall, mute."""
        return self.device.set_state(**changes)

    def state(self) -> dict[str, Any]:
        return self.device.state()

    def jobs(self) -> list[JobRecord]:
        return self.device.jobs()

    def wait_for_jobs(self, count: int, timeout: float = 10.0) -> list[JobRecord]:
        return self.device.wait_for_jobs(count, timeout)
