"""`posagent test-print` against the printer simulator: status, a slip whose QR scans back, clear failures."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from agent.cli.main import main
from hardware_sim.printer import PrinterSimulator


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PrinterSimulator]:
    with PrinterSimulator(out_dir=tmp_path, paper_mm=58) as printer:
        yield printer


@pytest.mark.parametrize("qr_flags", [[], ["--image-qr"]], ids=["native-qr", "image-qr"])
def test_test_print_prints_a_slip_whose_qr_reads_back_the_text_it_shows(
    sim: PrinterSimulator, capsys: pytest.CaptureFixture[str], qr_flags: list[str]
) -> None:
    argv = ["test-print", "--printer", f"tcp://127.0.0.1:{sim.port}", "--width", "58", "--json", *qr_flags]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["state"] == "printed" and out["status"]["ready"] is True
    [job] = sim.wait_for_jobs(1)
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(job.png))] == [out["qr_text"]]


def test_test_print_drawer_pulse_goes_with_the_slip(sim: PrinterSimulator) -> None:
    assert main(["test-print", "--printer", f"tcp://127.0.0.1:{sim.port}", "--drawer"]) == 0
    [job] = sim.wait_for_jobs(1)
    assert Path(job.bin).read_bytes().startswith(b"\x1bp\x00\x32\x32")  # ESC p, pin 2, 100 ms on/off
    assert job.unknown == 0


def test_test_print_refuses_on_paper_out_and_says_why(sim: PrinterSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.set_state(paper="end")
    assert main(["test-print", "--printer", f"tcp://127.0.0.1:{sim.port}"]) == 4
    assert "not printed: the printer reports paper end" in capsys.readouterr().err
    assert main(["test-print", "--printer", f"tcp://127.0.0.1:{sim.port}", "--status-only", "--json"]) == 4
    assert json.loads(capsys.readouterr().out)["status"]["problem"] == "paper_end"
    assert sim.jobs() == []


def test_test_print_explains_bad_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-print", "--printer", "lpt://1"]) == 2
    assert "unknown printer address" in capsys.readouterr().err


def test_test_print_to_a_file_device_prints_without_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device = tmp_path / "lp0"
    assert main(["test-print", "--printer", f"file://{device}"]) == 0
    assert "status not readable on this link" in capsys.readouterr().out
    assert device.read_bytes().endswith(b"\x1dV\x00")


class WebServer:
    """Answers whatever arrives with an HTTP 400, at once, as nginx does with bytes that are no request."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    if conn.recv(4096):
                        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Length: 0\r\n"
                                     b"Connection: close\r\n\r\n")  # fmt: skip

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def web_server() -> Iterator[WebServer]:
    server = WebServer()
    yield server
    server.close()


@pytest.mark.parametrize("flags", [[], ["--status-only"]])
def test_test_print_to_a_web_server_says_it_is_not_an_escpos_printer(
    web_server: WebServer, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    assert main(["test-print", "--printer", f"tcp://127.0.0.1:{web_server.port}", *flags]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()  # one line, no traceback
    assert "not an ESC/POS printer at this address" in line and "9100" in line
    assert "offline" not in line and captured.out == ""


def test_test_print_json_names_the_error_code(web_server: WebServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test-print", "--printer", f"tcp://127.0.0.1:{web_server.port}", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "PRINTER_NOT_ESCPOS" and error["status"]["problem"] == "not_escpos"
