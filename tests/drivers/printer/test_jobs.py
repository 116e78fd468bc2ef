"""The print queue: ids and states, one job at a time, change events, and no blind re-sends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.printer import Printer, PrinterError, Timeouts, WriteTimeout, make_transport
from drivers.printer.jobs import JobConflict, JobState, PrintJob, PrintQueue, ReprintRefused, apply_outcome
from drivers.printer.printer import Outcome
from drivers.printer.status import decode_status
from hardware_sim.printer import PrinterSimulator

FAST = Timeouts(status=0.5, write=0.5)


def job_bytes(text: str) -> bytes:
    return b"\x1b@" + text.encode() + b"\n\x1dV\x00"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PrinterSimulator]:
    with PrinterSimulator(out_dir=tmp_path) as printer:
        yield printer


def make_queue(sim: PrinterSimulator, events: list[tuple[str, str]] | None = None) -> PrintQueue:
    def record(job: PrintJob) -> None:
        if events is not None:
            events.append((job.id, job.state.value))

    return PrintQueue(Printer(make_transport(f"tcp://127.0.0.1:{sim.port}"), timeouts=FAST), on_change=record)


async def test_jobs_print_in_order_one_at_a_time_and_report_each_state(sim: PrinterSimulator) -> None:
    events: list[tuple[str, str]] = []
    async with make_queue(sim, events) as queue:
        first = queue.submit(job_bytes("first"), job_id="a", kind="activation")
        second = queue.submit(job_bytes("second"), job_id="b")
        assert first.state is JobState.QUEUED
        assert (await queue.wait("a")).state is JobState.PRINTED
        assert (await queue.wait("b")).state is JobState.PRINTED
    assert events == [("a", "queued"), ("b", "queued"), ("a", "printing"), ("a", "printed"),
                      ("b", "printing"), ("b", "printed")]  # fmt: skip
    assert [job.bytes for job in sim.wait_for_jobs(2)] == [first.size, second.size]
    assert second.to_json()["state"] == "printed" and second.bytes_sent == second.size
    assert second.data == b""  # released once printed; failed jobs keep theirs for a retry


async def test_the_same_id_is_idempotent_and_different_content_conflicts(sim: PrinterSimulator) -> None:
    async with make_queue(sim) as queue:
        job = queue.submit(job_bytes("once"), job_id="same")
        assert queue.submit(job_bytes("once"), job_id="same") is job
        with pytest.raises(JobConflict):
            queue.submit(job_bytes("other"), job_id="same")
        await queue.wait("same")
    assert len(sim.wait_for_jobs(1)) == 1
    assert len(sim.wait_for_jobs(2, timeout=0.3)) == 1


async def test_a_job_refused_before_sending_can_be_retried_once_fixed(sim: PrinterSimulator) -> None:
    sim.set_state(cover_open=True)
    async with make_queue(sim) as queue:
        queue.submit(job_bytes("retry me"), job_id="r")
        job = await queue.wait("r")
        assert (job.state, job.error_code, job.any_sent) == (JobState.FAILED, "PRINTER_COVER_OPEN", False)
        sim.set_state(cover_open=False)
        queue.retry("r")
        job = await queue.wait("r")
        assert job.state is JobState.PRINTED and job.attempts == 2
    assert len(sim.wait_for_jobs(1)) == 1


async def test_a_partly_sent_job_is_never_resent_without_force() -> None:
    class HalfWrite:
        """A printer that takes part of the job, then fails (a stalled or unplugged link)."""

        name, can_read, exclusive, bytes_per_second = "fake://printer", False, False, 1e9
        is_open = True
        writes: list[bytes] = []  # noqa: RUF012 - one fake per test

        def open(self) -> None: ...
        def close(self) -> None: ...
        def read_status(self, n: int, timeout: float) -> bytes | None:
            return None

        def write(self, data: bytes, timeout: float) -> int:
            self.writes.append(data)
            raise WriteTimeout("stalled", bytes_written=len(data) // 2, total=len(data))

    fake = HalfWrite()
    async with PrintQueue(Printer(fake)) as queue:
        queue.submit(b"slip", job_id="p")
        job = await queue.wait("p")
        assert (job.state, job.bytes_sent, job.any_sent) == (JobState.FAILED, 2, True)
        assert job.reason == "partially printed: check the slip before reprinting"
        with pytest.raises(ReprintRefused):
            queue.retry("p")
        assert len(fake.writes) == 1
        queue.retry("p", force=True)  # the technician checked the slip
        await queue.wait("p")
        assert len(fake.writes) == 2


async def test_a_broken_listener_does_not_stop_printing(sim: PrinterSimulator) -> None:
    def broken(job: PrintJob) -> None:
        raise RuntimeError("listener bug")

    queue = PrintQueue(Printer(make_transport(f"tcp://127.0.0.1:{sim.port}"), timeouts=FAST), on_change=broken)
    async with queue:
        queue.submit(job_bytes("still prints"), job_id="x")
        assert (await queue.wait("x")).state is JobState.PRINTED


async def test_status_between_jobs(sim: PrinterSimulator) -> None:
    async with make_queue(sim) as queue:
        assert (await queue.status()).ready
        sim.set_state(paper="end")
        assert (await queue.status()).paper_end


async def test_an_unreachable_printer_fails_the_job_with_nothing_sent(sim: PrinterSimulator) -> None:
    port = sim.port
    sim.close()
    async with PrintQueue(Printer(make_transport(f"tcp://127.0.0.1:{port}"), timeouts=FAST)) as queue:
        queue.submit(b"x", job_id="u")
        job = await queue.wait("u")
    assert (job.state, job.error_code, job.any_sent) == (JobState.FAILED, "DEVICE_UNAVAILABLE", False)


def test_outcomes_map_to_states_and_reasons() -> None:
    ready = decode_status({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12})
    paper_out = decode_status({1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E})
    job = PrintJob("o", "raw", b"12345")
    apply_outcome(job, Outcome(True, 5, True, None, ready, ready))
    assert (job.state, job.reason) == (JobState.PRINTED, None)
    apply_outcome(job, Outcome(False, 5, True, PrinterError("x"), ready, paper_out))
    assert job.state is JobState.FAILED and job.reason is not None and "paper end" in job.reason
    apply_outcome(job, Outcome(False, 3, True, PrinterError("x"), ready))
    assert job.reason == "partially printed: check the slip before reprinting"
    apply_outcome(job, Outcome(False, 0, False, None))
    assert job.reason == "not printed"


async def test_closing_mid_job_waits_for_it_and_records_how_it_ended(sim: PrinterSimulator) -> None:
    events: list[tuple[str, str]] = []
    sim.set_state(slow_bps=100_000)
    queue = make_queue(sim, events)
    queue.start()
    raster = b"\x1dv0\x00" + (72).to_bytes(2, "little") + (800).to_bytes(2, "little") + b"\x0f" * 72 * 800
    job = queue.submit(b"\x1b@" + raster + b"\n\x1dV\x00", job_id="long")  # about 0.6 s on this link
    while job.state is JobState.QUEUED:
        await asyncio.sleep(0.01)
    await queue.close()
    assert job.state.final and events[-1] == ("long", job.state.value)
