"""The printer's behaviour without I/O: what it answers and prints for each state."""

from __future__ import annotations

from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_sim.printer.engine import PrinterEngine


def slip() -> bytes:
    job = Dummy()
    job.text("Points: 120\n")
    job.qr("https://example.com/m/1", native=True)
    job.cut()
    return bytes(job.output)


def test_status_inside_image_data_is_answered_at_once_and_the_image_still_prints() -> None:
    image = Dummy()
    image.image(_image_with_status_bytes(), impl="bitImageRaster")
    data = bytes(image.output)
    assert b"\x10\x04\x01" in data
    engine = PrinterEngine()
    head = data.index(b"\x10\x04\x01") + 3
    assert engine.receive(data[:head]).replies == b"\x12"  # before the image has fully arrived
    out = engine.receive(data[head:] + b"\x1dV\x00")
    (job,) = out.jobs
    assert job.raw == data + b"\x1dV\x00"


def test_held_jobs_print_when_the_paper_is_back_and_gs_r_waits_with_them() -> None:
    engine = PrinterEngine()
    engine.set_state(paper="end")
    out = engine.receive(slip() + b"\x1dr\x01")
    assert out.jobs == [] and out.replies == b""
    assert engine.held_bytes == len(slip()) + 3
    resumed = engine.set_state(paper="ok")
    assert len(resumed.jobs) == 1
    assert resumed.replies == b"\x00"  # the GS r 1 reply, sent once the printer reached it
    assert engine.held_bytes == 0


def test_automatic_status_back_reports_the_enabled_kinds_of_change_until_disabled() -> None:
    engine = PrinterEngine()
    assert engine.receive(b"\x1da\x08").replies == b"\x10\x00\x00\x00"  # paper sensor changes only
    assert engine.set_state(paper="near_end").replies == b"\x10\x00\x03\x00"
    assert engine.set_state(paper="near_end").replies == b""  # no change, no block
    assert engine.set_state(drawer_high=True).replies == b""  # drawer changes not enabled
    engine.receive(b"\x1da\x03")  # drawer and online/offline
    assert engine.set_state(offline=True).replies == b"\x1c\x00\x03\x00"
    assert engine.set_state(paper="ok").replies == b""
    assert engine.set_state(offline=False).replies == b"\x14\x00\x00\x00"  # drawer still high
    engine.receive(b"\x1da\x00")  # queued like print data: processed because the printer is online
    assert engine.set_state(drawer_high=False, offline=True).replies == b""


def test_mute_answers_nothing_but_still_prints() -> None:
    engine = PrinterEngine()
    engine.mute = True
    out = engine.receive(b"\x10\x04\x01\x1dr\x01\x1da\xff" + slip())
    assert out.replies == b""
    assert len(out.jobs) == 1
    assert engine.status_requests == 2


def test_the_end_of_a_stream_ends_the_job_and_reports_a_truncated_command() -> None:
    engine = PrinterEngine()
    engine.receive(b"partial line\n\x1dv0\x00\x01\x00")
    (job,) = engine.end_of_stream().jobs
    assert not job.cut and job.truncated == 1
    # The next connection starts with a fresh parser.
    assert engine.receive(b"\x10\x04\x01").replies == b"\x12"


def test_a_full_receive_buffer_is_reported_to_the_transport() -> None:
    engine = PrinterEngine(receive_buffer=100)
    engine.set_state(offline=True)
    engine.receive(b"x" * 99)
    assert not engine.receive_full
    engine.receive(b"y")
    assert engine.receive_full
    engine.set_state(offline=False)
    assert not engine.receive_full


def _image_with_status_bytes() -> object:
    """A 24x2 image whose first row is the bytes 10 04 01 ... (DLE EOT 1 inside the data)."""
    from PIL import Image

    image = Image.new("1", (24, 2), 1)
    for x, bit in enumerate(f"{0x10:08b}{0x04:08b}{0x01:08b}"):
        if bit == "1":
            image.putpixel((x, 0), 0)
    return image


_PIECES = [
    b"\x1b@",
    b"\x1b!",
    b"\x1d!",
    b"\x1ba",
    b"\x1b*",
    b"\x1dv0",
    b"\x1d(L",
    b"\x1d8L",
    b"\x1d(k",
    b"1P0",
    b"1Q0",
    b"1C",
    b"1A",
    b"0p0",
    b"02",
    b"\x1dk",
    b"\x1dV",
    b"\x1dL",
    b"\x1dW",
    b"\x1bt",
    b"\x1c&",
    b"\x1dB",
    b"\x10\x04",
    b"\x1dr",
    b"\x1da",
    b"\n",
    b"\x00",
    b"\x01",
    b"\x02",
    b"\x03",
    b"\x08",
    b"\xff",
    b"AB",
    b"\xb0\xa1",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=12)), max_size=60), st.booleans())
def test_any_bytes_render_without_crashing(pieces: list[bytes], chinese: bool) -> None:
    engine = PrinterEngine(width_dots=384, encoding="gb18030" if chinese else None)
    data = b"".join(pieces)
    out = engine.receive(data)
    out.extend(engine.end_of_stream())
    for job in out.jobs:
        assert job.image.width == 384
    assert sum(len(job.raw) for job in out.jobs) <= len(data)
