"""Printer addresses: what technicians type, and clear errors for what cannot work."""

from __future__ import annotations

import pytest

from drivers.printer.uri import (
    FileAddress,
    PrinterUriError,
    SerialAddress,
    TcpAddress,
    UsbAddress,
    parse_printer_uri,
)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("tcp://192.168.1.50:9100", TcpAddress("192.168.1.50", 9100)),
        ("tcp://printer.local", TcpAddress("printer.local", 9100)),
        ("tcp://[::1]:9101", TcpAddress("::1", 9101)),
        ("usb://04b8:0e15", UsbAddress(0x04B8, 0x0E15)),
        ("usb://04B8:0E15?serial=ABC123", UsbAddress(0x04B8, 0x0E15, serial_number="ABC123")),
        ("usb://bus/1-1.4", UsbAddress(bus=1, port_path=(1, 4))),
        ("serial:///dev/ttyUSB0?baud=19200", SerialAddress("/dev/ttyUSB0", 19200, "none")),
        ("serial:///dev/ttyS0?baud=115200&flow=rtscts", SerialAddress("/dev/ttyS0", 115200, "rtscts")),
        ("serial:///dev/ttyS0", SerialAddress("/dev/ttyS0", 9600, "none")),
        ("file:///dev/usb/lp0", FileAddress("/dev/usb/lp0")),
    ],
)
def test_valid_addresses(uri: str, expected: object) -> None:
    assert parse_printer_uri(uri) == expected


@pytest.mark.parametrize(
    "address",
    [TcpAddress("10.0.0.9", 9100), TcpAddress("::1", 9100), UsbAddress(0x04B8, 0x0202, serial_number="X1"),
     UsbAddress(bus=2, port_path=(3, 1)), SerialAddress("/dev/ttyUSB1", 38400, "xonxoff"), FileAddress("/dev/usb/lp1")],
)  # fmt: skip
def test_addresses_print_back_as_uris_that_parse_to_the_same_address(address: object) -> None:
    assert parse_printer_uri(str(address)) == address


@pytest.mark.parametrize(
    ("uri", "hint"),
    [
        ("lpt://1", "unknown printer address"),
        ("tcp://:9100", "missing host"),
        ("tcp://host:99999", "bad port"),
        ("usb://4b8:e15", "bad USB id"),
        ("usb://bus/one", "bad USB port path"),
        ("serial:///dev/ttyUSB0?baud=12345", "baud must be one of"),
        ("serial:///dev/ttyUSB0?flow=magic", "flow must be one of"),
        ("serial://ttyUSB0", "absolute path"),
        ("file://lp0", "absolute path"),
        ("", "unknown printer address"),
    ],
)
def test_bad_addresses_say_what_a_good_one_looks_like(uri: str, hint: str) -> None:
    with pytest.raises(PrinterUriError, match=hint):
        parse_printer_uri(uri)


@pytest.mark.parametrize("uri", ["tcp://admin:S3cr3t-pw@192.168.1.50:notaport", "ipp://admin:S3cr3t-pw@printer/queue"])
def test_an_error_never_quotes_a_password_in_the_address(uri: str) -> None:
    with pytest.raises(PrinterUriError) as refused:
        parse_printer_uri(uri)

    assert "S3cr3t-pw" not in str(refused.value) and "admin:***@" in str(refused.value)
