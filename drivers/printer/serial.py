"""RS-232 / USB-serial printers through python-escpos's Serial (pyserial), with bounded writes.

Data goes out in small chunks with a write timeout each: pyserial cannot say how much of a
timed-out write left, so small chunks keep that uncertainty small (and it is reported as such).
"""

from __future__ import annotations

import contextlib
from typing import Any

import serial as pyserial

from drivers.printer.escpos_lib import Serial
from drivers.printer.transport import ChunkUncertain, LinkTransport
from drivers.printer.uri import SerialAddress


class SerialTransport(LinkTransport):
    chunk_size = 256

    def __init__(self, address: SerialAddress) -> None:
        super().__init__()
        self.address = address
        self.name = str(address)
        # Half the nominal rate (10 bits per byte): printers pause the link with flow control.
        self.bytes_per_second = address.baudrate / 20
        self._printer: Any = None

    def _open(self) -> None:
        printer = Serial(
            devfile=self.address.path, baudrate=self.address.baudrate, timeout=0.1,
            xonxoff=self.address.flow == "xonxoff", dsrdtr=self.address.flow == "dsrdtr",
        )  # fmt: skip
        printer.open()
        printer.device.rtscts = self.address.flow == "rtscts"
        self._printer = printer

    def _close(self) -> None:
        printer, self._printer = self._printer, None
        if printer is not None and printer.device is not None:
            printer.device.close()  # not printer.close(): its flush() has no timeout

    def _send(self, chunk: bytes, timeout: float) -> int:
        port = self._port()
        port.write_timeout = timeout
        try:
            return int(port.write(chunk) or 0)
        except pyserial.SerialTimeoutException as exc:
            raise ChunkUncertain(str(exc)) from None

    def _recv(self, timeout: float) -> bytes:
        port = self._port()
        port.timeout = timeout
        data = bytes(port.read(1))
        if data and port.in_waiting:
            data += bytes(port.read(port.in_waiting))
        return data

    def _abort(self) -> None:
        # Otherwise closing the port waits (up to the tty's 30 s closing_wait) for the stalled output.
        with contextlib.suppress(Exception):
            self._port().reset_output_buffer()

    def _discard_input(self) -> None:
        self._port().reset_input_buffer()

    def _port(self) -> Any:
        if self._printer is None or self._printer.device is None:
            raise ConnectionError("not open")
        return self._printer.device
