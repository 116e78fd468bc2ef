"""Each transport against a tiny fake of its link: bounded writes, counted bytes, filtered replies.

The fakes stand in for printers that stop reading (stall), never answer, answer with extra
bytes, or go away. Every call here must return within its timeout.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import usb.core

from drivers.printer import Printer, PrinterUnavailable, Problem, WriteFailed, WriteTimeout, make_transport
from drivers.printer.errors import NotAnEscposPrinter
from drivers.printer.file import FileTransport
from drivers.printer.network import NetworkTransport
from drivers.printer.serial import SerialTransport
from drivers.printer.status import reply_byte
from drivers.printer.uri import FileAddress, SerialAddress, TcpAddress, UsbAddress
from drivers.printer.usb import UsbTransport, bulk_endpoints

ASB_BLOCK = b"\x10\x00\x0c\x00"  # an automatic status-back block nobody asked for
DLE_EOT = b"\x10\x04"


class FakeTcpPrinter:
    """Accepts one connection; `reads` False = a stalled printer; answers DLE EOT with `reply`."""

    def __init__(self, reads: bool = True, reply: bytes | None = b"\x12", noise: bytes = b"") -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.port = self.listener.getsockname()[1]
        self.reads, self.reply, self.noise = reads, reply, noise
        self.received = bytearray()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.05)
        conn = None
        while conn is None and not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = self.listener.accept()
        if conn is None:
            return
        with conn:
            conn.settimeout(0.05)
            while not self.stop.is_set():
                if not self.reads:
                    self.stop.wait(0.05)
                    continue
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    return
                self.received += data
                for _ in range(data.count(DLE_EOT)):
                    if self.reply is not None:
                        conn.sendall(self.noise + self.reply)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def tcp_printer(request: pytest.FixtureRequest) -> Iterator[FakeTcpPrinter]:
    fake = FakeTcpPrinter(**getattr(request, "param", {}))
    yield fake
    fake.close()


def network(port: int) -> NetworkTransport:
    transport = NetworkTransport(TcpAddress("127.0.0.1", port), connect_timeout=2)
    transport.open()
    return transport


def test_network_write_sends_everything_to_a_reading_printer(tcp_printer: FakeTcpPrinter) -> None:
    transport = network(tcp_printer.port)
    data = bytes(range(256)) * 400
    assert transport.write(data, timeout=5) == len(data)
    transport.close()
    tcp_printer.thread.join(timeout=5)
    assert bytes(tcp_printer.received) == data


@pytest.mark.parametrize("tcp_printer", [{"reads": False}], indirect=True)
def test_network_write_to_a_stalled_printer_times_out_and_counts_what_went_out(tcp_printer: FakeTcpPrinter) -> None:
    transport = network(tcp_printer.port)
    data = b"x" * (8 * 1024 * 1024)
    with pytest.raises(WriteTimeout) as caught:
        transport.write(data, timeout=0.3)
    assert 0 < caught.value.bytes_written < len(data)
    assert caught.value.any_sent and caught.value.total == len(data)
    assert caught.value.code == "PRINTER_WRITE_TIMEOUT"
    transport.close()


@pytest.mark.parametrize("tcp_printer", [{"noise": ASB_BLOCK + b"\x16"}], indirect=True)
def test_status_reads_skip_unsolicited_bytes(tcp_printer: FakeTcpPrinter) -> None:
    transport = network(tcp_printer.port)
    reply = transport.read_status(1, timeout=2)
    assert reply is not None and reply_byte(reply) == 0x12
    transport.close()


HTTP_400 = b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("tcp_printer", [{"reply": HTTP_400}], indirect=True)
def test_a_web_server_at_the_printer_address_is_not_an_escpos_printer(tcp_printer: FakeTcpPrinter) -> None:
    printer = Printer(network(tcp_printer.port))
    status = printer.status()
    assert status.problem is Problem.NOT_ESCPOS and status.online is None  # never "offline"
    assert status.summary() == "not an ESC/POS printer at this address"
    printer.close()


@pytest.mark.parametrize("tcp_printer", [{"reply": HTTP_400}], indirect=True)
def test_a_job_for_a_web_server_is_refused_before_any_byte_and_can_be_retried(tcp_printer: FakeTcpPrinter) -> None:
    outcome = Printer(network(tcp_printer.port)).run(b"\x1b@receipt")
    assert not outcome.printed and outcome.bytes_sent == 0 and not outcome.any_sent
    assert isinstance(outcome.error, NotAnEscposPrinter) and outcome.error.code == "PRINTER_NOT_ESCPOS"
    assert "not an ESC/POS printer at this address" in str(outcome.error)
    assert b"receipt" not in tcp_printer.received


@pytest.mark.parametrize("tcp_printer", [{"reply": None}], indirect=True)
def test_a_printer_that_never_answers_gives_none(tcp_printer: FakeTcpPrinter) -> None:
    transport = network(tcp_printer.port)
    assert transport.read_status(1, timeout=0.2) is None
    transport.close()


def test_a_refused_connection_is_unavailable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    transport = make_transport(f"tcp://127.0.0.1:{port}")
    with pytest.raises(PrinterUnavailable, match="cannot open"):
        transport.open()
    assert not transport.is_open
    with pytest.raises(PrinterUnavailable, match="not open"):
        transport.write(b"x", timeout=1)


def test_writing_to_a_printer_that_went_away_fails_with_a_count(tcp_printer: FakeTcpPrinter) -> None:
    transport = network(tcp_printer.port)
    tcp_printer.close()
    with pytest.raises(WriteFailed) as caught:
        for _ in range(200):  # the first writes may still land in the kernel buffer
            transport.write(b"y" * 65536, timeout=1)
    assert caught.value.total == 65536
    transport.close()


# -- file (/dev/usb/lp*) -----------------------------------------------------------------------


def test_file_transport_appends_to_a_file_and_cannot_read_status(tmp_path: Path) -> None:
    path = tmp_path / "lp0"
    transport = FileTransport(FileAddress(str(path)))
    transport.open()
    assert transport.write(b"\x1b@hello\n", timeout=1) == 8
    assert transport.read_status(1, timeout=1) is None
    transport.close()
    assert path.read_bytes() == b"\x1b@hello\n"
    assert not transport.can_read


def test_file_transport_times_out_on_a_device_that_stops_taking_data(tmp_path: Path) -> None:
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a "printer" that never reads
    try:
        transport = FileTransport(FileAddress(str(fifo)))
        transport.open()
        with pytest.raises(WriteTimeout) as caught:
            transport.write(b"z" * (4 * 1024 * 1024), timeout=0.3)
        assert caught.value.bytes_written > 0 and caught.value.any_sent
        transport.close()
    finally:
        os.close(reader)


def test_file_transport_missing_directory_is_unavailable(tmp_path: Path) -> None:
    transport = FileTransport(FileAddress(str(tmp_path / "no" / "lp0")))
    with pytest.raises(PrinterUnavailable):
        transport.open()


def test_an_unplugged_printer_node_is_unavailable_not_created() -> None:
    transport = FileTransport(FileAddress("/dev/usb-posagent-test/lp9"))
    with pytest.raises(PrinterUnavailable, match="cannot open"):
        transport.open()
    transport = FileTransport(FileAddress("/dev/posagent-test-lp9"))
    with pytest.raises(PrinterUnavailable, match="cannot open"):
        transport.open()
    assert not os.path.exists("/dev/posagent-test-lp9")


# -- serial (a pseudo-terminal stands in for the port) -----------------------------------------


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    yield master, path
    for fd in (master, slave):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_serial_write_and_status_through_a_pty(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    transport = SerialTransport(SerialAddress(path, 19200))
    transport.open()
    assert transport.write(b"\x1b@abc", timeout=1) == 5
    assert os.read(master, 100) == b"\x1b@abc"
    os.write(master, b"\x12")  # a stale reply from before: must be discarded, not taken as the answer
    answer = threading.Timer(0.05, lambda: os.write(master, ASB_BLOCK + b"\x16"))
    answer.start()
    reply = transport.read_status(1, timeout=2)
    answer.join()
    assert reply == ASB_BLOCK + b"\x16"
    assert os.read(master, 100) == b"\x10\x04\x01"
    transport.close()


def answer_the_first_query(master: int, answer: bytes) -> None:
    """Plays the device on the pty's far end: `answer` once a DLE EOT query came in (bounded wait)."""
    received = b""
    while DLE_EOT not in received and select.select([master], [], [], 2)[0]:
        received += os.read(master, 100)
    os.write(master, answer)


@pytest.mark.parametrize("answer", [b"\x00", b"\x80\x80\x80", b"\xff"])  # wrong fixed bits (e.g. a wrong baud rate)
def test_a_serial_reply_with_wrong_fixed_bits_is_not_an_escpos_printer(pty_pair: tuple[int, str],
                                                                        answer: bytes) -> None:  # fmt: skip
    master, path = pty_pair
    printer = Printer(SerialTransport(SerialAddress(path, 19200)))
    answering = threading.Thread(target=answer_the_first_query, args=(master, answer))
    answering.start()
    status = printer.status()
    answering.join(timeout=5)
    assert status.problem is Problem.NOT_ESCPOS
    printer.close()


def test_serial_write_to_a_stalled_port_times_out_and_says_bytes_may_have_gone(pty_pair: tuple[int, str]) -> None:
    _, path = pty_pair
    transport = SerialTransport(SerialAddress(path, 9600))
    transport.open()
    with pytest.raises(WriteTimeout) as caught:
        transport.write(b"s" * (1024 * 1024), timeout=0.3)
    assert caught.value.any_sent
    transport.close()


# -- USB (a fake pyusb device) -----------------------------------------------------------------


class FakeEndpoint:
    def __init__(self, address: int) -> None:
        self.bEndpointAddress = address
        self.bmAttributes = 0x02  # bulk


class FakeInterface(list[FakeEndpoint]):
    bInterfaceClass = 7


class FakeUsbPrinter:
    """Takes `accept` bytes, then times out like a stalled printer; answers reads with `replies`."""

    idVendor, idProduct, bus, port_numbers = 0x04B8, 0x0E15, 1, (1, 4)

    def __init__(self, accept: int = 1 << 30, replies: list[bytes] | None = None) -> None:
        self.accept = accept
        self.written = bytearray()
        self.replies = list(replies or [])
        self.backend = self  # python-escpos checks backend.__module__ for libusb1

    def is_kernel_driver_active(self, interface: int) -> bool:
        return False

    def get_active_configuration(self) -> list[FakeInterface]:
        return [FakeInterface([FakeEndpoint(0x81), FakeEndpoint(0x02)])]

    def set_configuration(self) -> None:
        pass

    def write(self, endpoint: int, data: bytes, timeout: int) -> int:
        assert endpoint == 0x02 and timeout > 0
        if len(self.written) >= self.accept:
            raise usb.core.USBTimeoutError("timeout", errno=110)
        self.written += data
        return len(data)

    def read(self, endpoint: int, size: int, timeout: int) -> bytes:
        assert endpoint == 0x81
        if not self.replies:
            raise usb.core.USBTimeoutError("timeout", errno=110)
        return self.replies.pop(0)


def open_usb(monkeypatch: pytest.MonkeyPatch, device: FakeUsbPrinter, address: UsbAddress) -> UsbTransport:
    found: list[dict[str, Any]] = []

    def find(**kwargs: Any) -> FakeUsbPrinter | None:
        found.append(kwargs)
        match = kwargs.get("custom_match")
        return device if match is None or match(device) else None

    monkeypatch.setattr(usb.core, "find", find)
    monkeypatch.setattr("usb.util.dispose_resources", lambda device: None)
    transport = UsbTransport(address)
    transport.open()
    return transport


def test_usb_finds_the_bulk_endpoints_and_writes_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    device = FakeUsbPrinter(replies=[b"\x12"])
    transport = open_usb(monkeypatch, device, UsbAddress(bus=1, port_path=(1, 4)))
    assert bulk_endpoints(device) == (0x02, 0x81)
    data = b"u" * 10000
    assert transport.write(data, timeout=1) == len(data)
    assert bytes(device.written) == data
    assert transport.read_status(1, timeout=0.5) is None  # the stale byte was discarded first
    transport.close()


def test_usb_stall_reports_the_confirmed_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    device = FakeUsbPrinter(accept=8192)
    transport = open_usb(monkeypatch, device, UsbAddress(0x04B8, 0x0E15))
    with pytest.raises(WriteTimeout) as caught:
        transport.write(b"v" * 20000, timeout=0.5)
    assert caught.value.bytes_written == 8192 and caught.value.any_sent
    transport.close()


def test_usb_printer_not_on_that_port_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PrinterUnavailable, match="cannot open"):
        open_usb(monkeypatch, FakeUsbPrinter(), UsbAddress(bus=2, port_path=(9,)))


class AnsweringUsbDevice(FakeUsbPrinter):
    """Answers each DLE EOT it is sent with `answer` (nothing is waiting before that)."""

    def __init__(self, answer: bytes) -> None:
        super().__init__()
        self.answer = answer

    def write(self, endpoint: int, data: bytes, timeout: int) -> int:
        if DLE_EOT in bytes(data):
            self.replies.append(self.answer)
        return super().write(endpoint, data, timeout)


@pytest.mark.parametrize(("answer", "problem"), [(b"\x12", None), (b"\x00", Problem.NOT_ESCPOS),
                                                 (b"\x12\x0c\x00", Problem.NOT_ESCPOS)])  # fmt: skip
def test_usb_replies_are_checked_for_the_fixed_bits_too(monkeypatch: pytest.MonkeyPatch, answer: bytes,
                                                        problem: Problem | None) -> None:  # fmt: skip
    transport = open_usb(monkeypatch, AnsweringUsbDevice(answer), UsbAddress(bus=1, port_path=(1, 4)))
    status = Printer(transport).status()
    assert status.problem is problem
    transport.close()
