"""The driver against the printer simulator over TCP: slips that scan back, and every fault.

Round trip: the activation slip goes out over TCP, the simulator renders it, and zxing-cpp
reads the rendered PNG back to exactly the URL (native GS ( k and image QR, 58 and 80 mm).
Faults: none hangs (every I/O is bounded), each gives its own error, none prints twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from drivers.printer import (
    ActivationSlip,
    Printer,
    PrinterProfile,
    Timeouts,
    activation_slip,
    make_transport,
)
from drivers.printer.jobs import PARTIAL_REASON, JobState, PrintJob, apply_outcome
from drivers.printer.network import NetworkTransport
from drivers.printer.uri import TcpAddress
from hardware_sim.printer import PrinterSimulator

URL = ("https://memberprod.alipay.com/account/openform/activecard.htm?app_id=2021000000000000"
       "&template_id=20240101000000000000000000000000&__webview_options=canPullDown%3dNO%26transparentTitle%3dauto"
       "&callback=https%3A%2F%2Fstore.example.com%2Fcb%3Fshop%3D42")  # fmt: skip
FAST = Timeouts(status=0.5, write=0.5)
SMALL_JOB = b"\x1b@one small job\n\x1dV\x00"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PrinterSimulator]:
    with PrinterSimulator(out_dir=tmp_path / "printed") as printer:
        yield printer


def printer_for(sim: PrinterSimulator, profile: PrinterProfile | None = None, timeouts: Timeouts = FAST) -> Printer:
    return Printer(make_transport(f"tcp://127.0.0.1:{sim.port}"), profile, timeouts)


def run_job(printer: Printer, data: bytes) -> PrintJob:
    job = PrintJob("job-1", "test", data)
    apply_outcome(job, printer.run(data))
    return job


def decoded(png: str) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(png))]


@pytest.mark.parametrize("paper_mm", [58, 80])
@pytest.mark.parametrize("native_qr", [True, False], ids=["native-qr", "image-qr"])
def test_activation_slip_round_trip_scans_back_to_exactly_the_url(
    tmp_path: Path, paper_mm: int, native_qr: bool
) -> None:
    profile = PrinterProfile(paper_mm=paper_mm, native_qr=native_qr)  # type: ignore[arg-type]
    with PrinterSimulator(out_dir=tmp_path, paper_mm=paper_mm) as sim:
        job = run_job(printer_for(sim, profile), activation_slip(ActivationSlip("Cafe du Coin", URL), profile))
        assert job.state is JobState.PRINTED and job.error_code is None
        [printed] = sim.wait_for_jobs(1)
    assert printed.cut and printed.unknown == 0 and printed.truncated == 0
    assert printed.qr == ([URL] if native_qr else [])  # the image path never sends the data as QR data
    image = Image.open(printed.png)
    assert image.width == profile.width_dots
    assert decoded(printed.png) == [URL]


@pytest.mark.parametrize(
    ("state", "error_code"),
    [
        ({"paper": "end"}, "PRINTER_PAPER_OUT"),
        ({"cover_open": True}, "PRINTER_COVER_OPEN"),
        ({"offline": True}, "PRINTER_OFFLINE"),
        ({"autocutter_error": True}, "PRINTER_ERROR"),
        ({"mute": True}, "PRINTER_STATUS_UNKNOWN"),
    ],
)
def test_a_printer_not_ready_before_the_job_gets_nothing(
    sim: PrinterSimulator, state: dict[str, Any], error_code: str
) -> None:
    sim.set_state(**state)
    job = run_job(printer_for(sim), SMALL_JOB)
    assert job.state is JobState.FAILED and job.error_code == error_code
    assert job.bytes_sent == 0 and not job.any_sent  # safe to retry once fixed
    assert job.reason is not None and job.reason.startswith("not printed")
    sim.set_state(paper="ok", cover_open=False, offline=False, autocutter_error=False, mute=False)
    assert sim.jobs() == []
    assert sim.state()["bytes_received"] <= 12  # status queries only: 4 x DLE EOT n


def test_paper_near_end_prints_and_says_so(sim: PrinterSimulator) -> None:
    sim.set_state(paper="near_end")
    job = run_job(printer_for(sim), SMALL_JOB)
    assert job.state is JobState.PRINTED
    assert job.status is not None and job.status.paper_near_end
    assert len(sim.wait_for_jobs(1)) == 1


class FaultDuringJob(NetworkTransport):
    """Sets a simulator fault once `after` bytes of print data went out (status queries don't count)."""

    def __init__(self, sim: PrinterSimulator, after: int, **fault: Any) -> None:
        super().__init__(TcpAddress("127.0.0.1", sim.port))
        self.sim, self.after, self.fault, self.sent = sim, after, fault, 0

    def _send(self, chunk: bytes, timeout: float) -> int:
        sent = super()._send(chunk, timeout)
        if len(chunk) > 3:
            self.sent += sent
            if self.sent >= self.after:
                self.sim.set_state(**self.fault)
        return sent


def raster_job(rows: int) -> bytes:
    """A 576-dot wide raster image of `rows` rows (72 bytes each): big, and quick to render."""
    image = b"\x1dv0\x00" + (72).to_bytes(2, "little") + rows.to_bytes(2, "little") + b"\x0f" * 72 * rows
    return b"\x1b@" + image + b"\n\x1dV\x00"


def test_paper_out_during_the_job_fails_it_as_sent_and_the_printer_finishes_it_once(sim: PrinterSimulator) -> None:
    data = raster_job(1250)  # about 90 KB
    printer = Printer(FaultDuringJob(sim, after=8192, paper="end"), None, FAST)
    job = run_job(printer, data)
    assert job.state is JobState.FAILED and job.error_code == "PRINTER_PAPER_OUT"
    assert job.any_sent and job.bytes_sent == len(data)
    assert job.reason is not None and "check it before reprinting" in job.reason
    assert sim.jobs() == []  # held in the printer, not lost
    sim.set_state(paper="ok")
    [printed] = sim.wait_for_jobs(1)
    assert printed.bytes == len(data)  # printed once, complete, and never re-sent
    assert len(sim.wait_for_jobs(2, timeout=0.3)) == 1


def test_a_stalled_printer_times_out_the_write_and_the_job_is_not_resent(sim: PrinterSimulator) -> None:
    data = b"\x1b@" + b"y" * (4 * 1024 * 1024) + b"\x1dV\x00"
    transport = FaultDuringJob(sim, after=1, stall=True)  # answers status, then stops reading
    transport.bytes_per_second = 1e12  # the write deadline is the 0.3 s base alone
    job = run_job(Printer(transport, None, Timeouts(status=0.5, write=0.3)), data)
    assert job.state is JobState.FAILED and job.error_code == "PRINTER_WRITE_TIMEOUT"
    assert 0 < job.bytes_sent < len(data) and job.any_sent
    assert job.reason == PARTIAL_REASON
    assert not transport.is_open  # the half-sent stream is dropped, not continued
    sim.set_state(stall=False)
    assert sim.device.wait_for(lambda s: s["bytes_received"] >= job.bytes_sent, timeout=5)
    assert sim.state()["bytes_received"] < len(data)


def test_a_printer_that_never_answers_can_be_printed_to_blind_when_its_profile_says_so(
    sim: PrinterSimulator,
) -> None:
    sim.set_state(mute=True)
    job = run_job(printer_for(sim, PrinterProfile(answers_status=False)), SMALL_JOB)
    assert job.state is JobState.PRINTED
    assert job.status is not None and not job.status.known
    assert len(sim.wait_for_jobs(1)) == 1


def test_status_from_the_simulator(sim: PrinterSimulator) -> None:
    printer = printer_for(sim)
    assert printer.status().ready
    sim.set_state(cover_open=True, drawer_high=True)
    status = printer.status()
    assert status.cover_open and status.drawer_high and not status.online
    assert not printer.transport.is_open  # network printers serve one client: released after use


def test_activation_slip_over_the_simulated_serial_port(tmp_path: Path) -> None:
    profile = PrinterProfile(paper_mm=58)
    with PrinterSimulator(out_dir=tmp_path, paper_mm=58, pty=True) as sim:
        assert sim.pty_path is not None
        printer = Printer(make_transport(f"serial://{sim.pty_path}?baud=115200"), profile, FAST)
        job = run_job(printer, activation_slip(ActivationSlip("Cafe du Coin", URL), profile))
        assert job.state is JobState.PRINTED
        assert printer.transport.is_open  # a serial port is kept open between jobs
        printer.close()
        [printed] = sim.wait_for_jobs(1)
    assert decoded(printed.png) == [URL]
