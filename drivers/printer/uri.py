"""Printer addresses as technicians write them (pure parsing, no I/O).

    tcp://192.168.1.50:9100          raw TCP (port defaults to 9100); tcp://[::1]:9100 for IPv6
    usb://04b8:0e15                  USB by vendor:product id (hex)
    usb://04b8:0e15?serial=ABC123    ... and serial number, when two identical printers are plugged
    usb://bus/1-1.4                  USB by bus and port path (stable across replugs in one socket)
    serial:///dev/ttyUSB0?baud=19200&flow=rtscts   RS-232 (flow: none, xonxoff, rtscts, dsrdtr)
    file:///dev/usb/lp0              the kernel's usblp device (or any file)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, urlsplit

from drivers.addresses import display_address

BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
FLOW_CONTROLS = ("none", "xonxoff", "rtscts", "dsrdtr")
_USB_ID = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
_USB_PORT_PATH = re.compile(r"^(\d+)-(\d+(?:\.\d+)*)$", re.ASCII)


class PrinterUriError(ValueError):
    """A printer address that cannot be used, with what a valid one looks like."""


@dataclass(frozen=True, slots=True)
class TcpAddress:
    host: str
    port: int = 9100

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class UsbAddress:
    vendor_id: int | None = None
    product_id: int | None = None
    serial_number: str | None = None
    bus: int | None = None
    port_path: tuple[int, ...] | None = None

    def __str__(self) -> str:
        if self.bus is not None and self.port_path is not None:
            return f"usb://bus/{self.bus}-{'.'.join(map(str, self.port_path))}"
        text = f"usb://{self.vendor_id or 0:04x}:{self.product_id or 0:04x}"
        return text + (f"?serial={self.serial_number}" if self.serial_number else "")


@dataclass(frozen=True, slots=True)
class SerialAddress:
    path: str
    baudrate: int = 9600
    flow: str = "none"

    def __str__(self) -> str:
        return f"serial://{self.path}?baud={self.baudrate}&flow={self.flow}"


@dataclass(frozen=True, slots=True)
class FileAddress:
    path: str

    def __str__(self) -> str:
        return f"file://{self.path}"


PrinterAddress = TcpAddress | UsbAddress | SerialAddress | FileAddress


def parse_printer_uri(uri: str) -> PrinterAddress:
    """The address, or PrinterUriError whose message shows the URI with any password masked."""
    return _parse(uri, display_address(uri))


def _parse(uri: str, shown: str) -> PrinterAddress:
    """`shown` is the URI as error messages may quote it; the helpers below only ever see that form."""
    parts = urlsplit(uri.strip())
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    scheme = parts.scheme.lower()
    if scheme == "tcp":
        return _tcp(shown, parts)
    if scheme == "usb":
        return _usb(shown, parts.netloc, parts.path, query)
    if scheme == "serial":
        return _serial(shown, parts.path, query)
    if scheme == "file":
        if not parts.path.startswith("/"):
            raise PrinterUriError(f"{shown!r}: give an absolute path, e.g. file:///dev/usb/lp0")
        return FileAddress(parts.path)
    raise PrinterUriError(
        f"{shown!r}: unknown printer address; use tcp://HOST:9100, usb://VID:PID, serial:///dev/ttyUSB0 "
        "or file:///dev/usb/lp0"
    )


def _tcp(uri: str, parts: SplitResult) -> TcpAddress:
    if not parts.hostname:
        raise PrinterUriError(f"{uri!r}: missing host, e.g. tcp://192.168.1.50:9100")
    try:
        port = parts.port or 9100
    except ValueError:
        raise PrinterUriError(f"{uri!r}: bad port") from None
    return TcpAddress(parts.hostname, port)


def _usb(uri: str, netloc: str, path: str, query: dict[str, str]) -> UsbAddress:
    if netloc == "bus":
        match = _USB_PORT_PATH.fullmatch(path.strip("/"))
        if not match:
            raise PrinterUriError(f"{uri!r}: bad USB port path, e.g. usb://bus/1-1.4")
        return UsbAddress(bus=int(match.group(1)), port_path=tuple(int(p) for p in match.group(2).split(".")))
    match = _USB_ID.fullmatch(netloc)
    if not match or path not in ("", "/"):
        raise PrinterUriError(f"{uri!r}: bad USB id, e.g. usb://04b8:0e15 (vendor:product in hex)")
    return UsbAddress(int(match.group(1), 16), int(match.group(2), 16), serial_number=query.get("serial") or None)


def _serial(uri: str, path: str, query: dict[str, str]) -> SerialAddress:
    if not path.startswith("/"):
        raise PrinterUriError(f"{uri!r}: give the port's absolute path, e.g. serial:///dev/ttyUSB0?baud=19200")
    baud_text = query.get("baud", "9600")
    if not (baud_text.isascii() and baud_text.isdigit()) or int(baud_text) not in BAUD_RATES:
        raise PrinterUriError(f"{uri!r}: baud must be one of {', '.join(map(str, BAUD_RATES))}")
    flow = query.get("flow", "none").lower()
    if flow not in FLOW_CONTROLS:
        raise PrinterUriError(f"{uri!r}: flow must be one of {', '.join(FLOW_CONTROLS)}")
    return SerialAddress(path, int(baud_text), flow)
