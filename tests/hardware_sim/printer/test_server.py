"""The simulator on TCP: status in real time, faults set at run time, one PNG per job.

Every check goes through a raw socket as a driver would see it. To know that the printer has read
everything sent so far, a test sends DLE EOT and waits for the reply: replies come in stream order.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from escpos.printer import Dummy, Network
from PIL import Image

from hardware_sim.printer import PrinterSimulator

URL = "https://render.alipay.com/p/c/activate?template_id=2024&out_string=S1"
PAPER_STATUS, PRINTER_STATUS, OFFLINE_CAUSE = b"\x10\x04\x04", b"\x10\x04\x01", b"\x10\x04\x02"


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[PrinterSimulator]:
    with PrinterSimulator(tmp_path / "out", admin_port=0) as simulator:
        yield simulator


def connect(printer: PrinterSimulator) -> socket.socket:
    sock = socket.create_connection((printer.host, printer.port), timeout=10)
    return sock


def ask(sock: socket.socket, request: bytes, size: int = 1) -> bytes:
    sock.sendall(request)
    reply = b""
    while len(reply) < size:
        chunk = sock.recv(size - len(reply))
        assert chunk, "printer closed the connection"
        reply += chunk
    return reply


def slip(text: str = "Member card\n") -> bytes:
    job = Dummy()
    job.set(align="center")
    job.text(text)
    job.qr(URL, native=True, size=6)
    job.cut()
    return bytes(job.output)


def test_an_idle_printer_answers_each_status_request(printer: PrinterSimulator) -> None:
    with connect(printer) as sock:
        assert [ask(sock, b"\x10\x04" + bytes([n])) for n in (1, 2, 3, 4)] == [b"\x12"] * 4
        assert ask(sock, b"\x1dr\x01") == b"\x00"


def test_a_job_becomes_a_png_a_bin_and_a_log_line(printer: PrinterSimulator) -> None:
    with connect(printer) as sock:
        sock.sendall(slip())
    (job,) = printer.wait_for_jobs(1)
    assert job.qr == [URL] and job.cut and job.unknown == 0
    assert Path(job.bin).read_bytes() == slip()
    with Image.open(job.png) as image:
        assert [r.text for r in zxingcpp.read_barcodes(image.convert("L"))] == [URL]
    (line,) = (printer.out_dir / "jobs.jsonl").read_text().splitlines()
    logged = json.loads(line)
    assert logged["qr"] == [URL] and logged["bytes"] == len(slip()) and logged["png"] == job.png


def test_python_escpos_prints_native_and_image_qr_over_tcp(printer: PrinterSimulator) -> None:
    client = Network(printer.host, port=printer.port, timeout=10)
    try:
        assert client.is_online()
        assert client.paper_status() == 2
        client.set(align="center")
        client.qr(URL, native=True, size=6)
        client.qr(URL + "&image=1", native=False, size=6)
        client.cut()
    finally:
        client.close()
    (job,) = printer.wait_for_jobs(1)
    with Image.open(job.png) as image:
        texts = sorted(r.text for r in zxingcpp.read_barcodes(image.convert("L")))
    assert texts == sorted([URL, URL + "&image=1"])


def test_paper_out_before_a_job_holds_it_until_paper_is_loaded(printer: PrinterSimulator) -> None:
    printer.set_state(paper="end")
    with connect(printer) as sock:
        assert ask(sock, PAPER_STATUS) == b"\x7e"
        assert ask(sock, PRINTER_STATUS)[0] & 0x08  # offline
        sock.sendall(slip())
        assert ask(sock, OFFLINE_CAUSE) == b"\x32"  # stopped at paper end
        assert printer.jobs() == []
        assert printer.state()["held_bytes"] == len(slip())
        printer.set_state(paper="ok")
        (job,) = printer.wait_for_jobs(1)
        assert job.qr == [URL]
        assert ask(sock, PAPER_STATUS) == b"\x12"


def test_paper_running_out_during_a_job_stops_it_part_way(printer: PrinterSimulator) -> None:
    data = slip()
    half = data.index(b"\x1d(k")  # a command boundary: the text is sent, the QR is not
    with connect(printer) as sock:
        sock.sendall(data[:half])
        assert ask(sock, PAPER_STATUS) == b"\x12"
        printer.set_state(paper="end")
        sock.sendall(data[half:])
        assert ask(sock, PAPER_STATUS) == b"\x7e"
        assert printer.jobs() == []
        assert printer.state()["held_bytes"] > 0
        printer.set_state(paper="ok")
        (job,) = printer.wait_for_jobs(1)
    assert job.qr == [URL]
    assert Path(job.bin).read_bytes() == data  # nothing lost across the stop


def test_cover_open_is_reported_and_pushed_by_automatic_status_back(printer: PrinterSimulator) -> None:
    with connect(printer) as sock:
        assert ask(sock, b"\x1da\xff", 4) == b"\x10\x00\x00\x00"  # enabling ASB sends one block
        printer.set_state(cover_open=True)
        block = sock.recv(4)
        assert block[0] & 0x20 and block[0] & 0x08  # cover open, offline
        assert ask(sock, OFFLINE_CAUSE) == b"\x16"
        assert ask(sock, PRINTER_STATUS) == b"\x1a"
        printer.set_state(cover_open=False)
        assert sock.recv(4) == b"\x10\x00\x00\x00"


def test_offline_answers_real_time_status_but_queues_gs_r(printer: PrinterSimulator) -> None:
    printer.set_state(offline=True)
    with connect(printer) as sock:
        sock.sendall(b"\x1dr\x01")  # queued behind print data: not answered while offline
        assert ask(sock, PRINTER_STATUS) == b"\x1a"
        printer.set_state(offline=False)
        assert sock.recv(1) == b"\x00"  # now the GS r reply
        assert ask(sock, PRINTER_STATUS) == b"\x12"


def test_a_mute_printer_never_answers_status(printer: PrinterSimulator) -> None:
    printer.set_state(mute=True, paper="near_end")
    with connect(printer) as sock:
        sock.sendall(PRINTER_STATUS + b"\x1dr\x01")
        sock.sendall(slip())
        printer.device.wait_for(lambda state: state["status_requests"] == 2)
        printer.set_state(mute=False)
        # The first byte that ever comes back answers the request sent after unmuting.
        assert ask(sock, PAPER_STATUS) == b"\x1e"
    assert len(printer.wait_for_jobs(1)) == 1  # it still prints


def test_a_stalled_printer_stops_reading_and_the_writer_blocks(printer: PrinterSimulator) -> None:
    printer.set_state(stall=True)
    with connect(printer) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        sock.setblocking(False)
        sent = 0
        with pytest.raises(BlockingIOError):
            while sent < 64 * 1024 * 1024:
                sent += sock.send(b"\x00" * 65536)
        assert printer.state()["bytes_received"] == 0
        printer.set_state(stall=False)
        sock.setblocking(True)
        assert ask(sock, PRINTER_STATUS) == b"\x12"  # reading again: everything arrives
        assert printer.state()["bytes_received"] == sent + 3


def test_a_full_receive_buffer_stops_reading_while_paper_is_out(tmp_path: Path) -> None:
    with PrinterSimulator(tmp_path, receive_buffer=4096) as printer:
        printer.set_state(paper="end")
        with connect(printer) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
            sock.setblocking(False)
            sent = sock.send(b"\x00" * 8192)
            assert printer.device.wait_for(lambda state: state["held_bytes"] >= 4096)
            with pytest.raises(BlockingIOError):  # the printer is busy: the writer blocks
                while sent < 64 * 1024 * 1024:
                    sent += sock.send(b"\x00" * 65536)
            state = printer.state()
            assert state["held_bytes"] <= 4096 + 4096  # at most one read past the limit
            assert state["bytes_received"] < sent
            printer.set_state(paper="ok")
            assert printer.device.wait_for(lambda state: state["bytes_received"] == sent)
            assert printer.state()["held_bytes"] == 0


def test_slow_printer_reads_at_the_set_rate(printer: PrinterSimulator) -> None:
    printer.set_state(slow_bps=20)
    with connect(printer) as sock:
        sock.sendall(b"\x00" * 2000)  # 100 s of reading at 20 bytes/s
        assert printer.state()["bytes_received"] < 2000
        printer.set_state(slow_bps=None)
        assert ask(sock, PRINTER_STATUS) == b"\x12"
        assert printer.state()["bytes_received"] == 2003


def test_a_second_connection_waits_for_the_first(printer: PrinterSimulator) -> None:
    printer.set_state(paper="near_end")
    with connect(printer) as first:
        assert ask(first, PAPER_STATUS) == b"\x1e"
        with connect(printer) as second:
            second.sendall(PAPER_STATUS)
            assert ask(first, PAPER_STATUS) == b"\x1e"
            assert printer.connections == 1  # the second one is not served yet
            first.close()
            assert second.recv(1) == b"\x1e"
            assert printer.connections == 2


def test_the_end_of_a_connection_ends_the_job(printer: PrinterSimulator) -> None:
    with connect(printer) as sock:
        sock.sendall(b"no cut here\n")
    (job,) = printer.wait_for_jobs(1)
    assert not job.cut


def _http(printer: PrinterSimulator, method: str, path: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{printer.admin_port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_admin_endpoint_sets_state_and_lists_jobs(printer: PrinterSimulator) -> None:
    status, state = _http(printer, "PUT", "/state", {"paper": "end", "cover_open": True})
    assert status == 200 and isinstance(state, dict)
    assert state["paper"] == "end" and state["cover_open"] and not state["online"]
    with connect(printer) as sock:
        assert ask(sock, PAPER_STATUS) == b"\x7e"
    assert _http(printer, "PUT", "/state", {"paper": "ok", "cover_open": False})[0] == 200
    with connect(printer) as sock:
        sock.sendall(slip())
    printer.wait_for_jobs(1)
    status, jobs = _http(printer, "GET", "/jobs")
    assert status == 200 and isinstance(jobs, list) and jobs[0]["qr"] == [URL]


def test_drawer_pulses_show_in_the_state_and_the_job_log(printer: PrinterSimulator) -> None:
    job = Dummy()
    job.text("paid\n")
    job.cashdraw(2)
    job.cut()
    with connect(printer) as sock:
        sock.sendall(bytes(job.output))
    (record,) = printer.wait_for_jobs(1)
    assert record.events == [{"event": "drawer_pulse", "pin": 2, "on_ms": 100, "off_ms": 100}]
    log = json.loads((Path(record.png).parent / "jobs.jsonl").read_text().splitlines()[-1])
    assert log["events"] == record.events
    status, state = _http(printer, "GET", "/state")
    assert status == 200 and isinstance(state, dict)
    assert state["drawer_pulses"] == 1 and state["last_drawer_pulse"] == {"pin": 2, "on_ms": 100, "off_ms": 100}


@pytest.mark.parametrize(
    "body", [{"paper": "gone"}, {"colour": "red"}, {"offline": "yes"}, {"slow_bps": -1}, ["paper"]]
)
def test_the_admin_endpoint_rejects_bad_changes_clearly(printer: PrinterSimulator, body: object) -> None:
    status, answer = _http(printer, "PUT", "/state", body)
    assert status == 400 and isinstance(answer, dict) and answer["error"]
    assert _http(printer, "GET", "/state")[1] == printer.state()


def test_the_pty_mode_behaves_like_a_serial_printer(tmp_path: Path) -> None:
    with PrinterSimulator(tmp_path, pty=True) as printer:
        assert printer.pty_path is not None
        fd = os.open(printer.pty_path, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, PRINTER_STATUS)
            assert os.read(fd, 1) == b"\x12"
            os.write(fd, slip())
            (job,) = printer.wait_for_jobs(1)
            assert job.qr == [URL]
        finally:
            os.close(fd)


def test_the_fifo_mode_takes_each_writer_session_as_a_stream(tmp_path: Path) -> None:
    pipe = tmp_path / "lp0"
    with PrinterSimulator(tmp_path / "out", fifo=pipe) as printer:
        assert printer.fifo_path == pipe and pipe.is_fifo()
        with pipe.open("wb") as device:  # as python-escpos' File printer does
            device.write(b"first session, no cut\n")
        # A pipe cannot tell two writers apart if the second opens before the first is read to EOF.
        assert len(printer.wait_for_jobs(1)) == 1
        with pipe.open("wb") as device:
            device.write(slip())
        first, second = printer.wait_for_jobs(2)
        assert not first.cut and second.cut and second.qr == [URL]
    assert not pipe.exists()  # the simulator removes the pipe it made
