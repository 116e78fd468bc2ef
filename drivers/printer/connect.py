"""From an address to the transport that talks to it (nothing is opened here).

The serial and USB transports are imported only for their printers: they load pyserial, pyusb and
python-escpos (with its printer database), which a till printing over the network never needs.
"""

from __future__ import annotations

from drivers.printer.file import FileTransport
from drivers.printer.network import NetworkTransport
from drivers.printer.transport import Transport
from drivers.printer.uri import FileAddress, PrinterAddress, SerialAddress, TcpAddress, UsbAddress, parse_printer_uri


def make_transport(address: PrinterAddress | str, connect_timeout: float = 5.0) -> Transport:
    if isinstance(address, str):
        address = parse_printer_uri(address)
    if isinstance(address, TcpAddress):
        return NetworkTransport(address, connect_timeout)
    if isinstance(address, SerialAddress):
        from drivers.printer.serial import SerialTransport  # noqa: PLC0415 - pyserial + python-escpos: only for it

        return SerialTransport(address)
    if isinstance(address, FileAddress):
        return FileTransport(address)
    if isinstance(address, UsbAddress):
        from drivers.printer.usb import UsbTransport  # noqa: PLC0415 - pyusb only when a USB printer is used

        return UsbTransport(address)
    raise TypeError(f"not a printer address: {address!r}")
