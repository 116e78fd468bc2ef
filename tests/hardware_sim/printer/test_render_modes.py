"""Modes a receipt uses besides plain text: cuts, tabs, rotation, the drawer, colour graphics,
and the commands the simulator does not draw, which the job must name instead of dropping."""

from __future__ import annotations

import numpy as np
import pytest
from escpos.printer import Dummy
from PIL import Image, ImageChops

from hardware_sim.printer.engine import PrinterEngine
from hardware_sim.printer.job import JobAssembler, RenderedJob
from hardware_sim.printer.parser import Parser
from hardware_sim.printer.render import PAPER_WIDTHS

CELL = 12  # font A cell width


def render(data: bytes, width_mm: int = 80) -> list[RenderedJob]:
    parser = Parser()
    assembler = JobAssembler(PAPER_WIDTHS[width_mm])
    jobs = assembler.add(parser.feed(data) + parser.close())
    last = assembler.end_of_stream()
    return jobs + ([last] if last is not None else [])


def ink_columns(image: Image.Image) -> list[int]:
    """x of every column with ink."""
    ink = np.asarray(image.convert("L")) < 128
    return [int(x) for x in np.flatnonzero(ink.any(axis=0))]


def ink_box(image: Image.Image) -> tuple[int, int, int, int]:
    box = ImageChops.invert(image.convert("L")).getbbox()
    assert box is not None, "nothing was printed"
    return box


# -- cuts ------------------------------------------------------------------------------------------


def test_two_cuts_in_a_row_leave_one_page_not_an_empty_one() -> None:
    printer = Dummy()
    printer.text("receipt\n")
    printer.cut()
    printer.cut()  # feeds and cuts blank paper: no page
    printer.text("next\n")
    printer.cut()
    jobs = render(printer.output)
    assert len(jobs) == 2
    assert all(ink_box(job.image) for job in jobs)
    assert b"".join(job.raw for job in jobs) == printer.output  # the blank cut's bytes are kept


def test_a_stream_of_feeds_and_cuts_only_prints_no_page() -> None:
    assert render(b"\n\n\x1dV\x00\x1dV\x00") == []


def test_a_refused_barcode_alone_still_leaves_its_note() -> None:
    (job,) = render(b"\x1dkI\x03ABC\x1dV\x00")  # CODE128 without a code set: nothing printed
    assert any("not printed" in note for note in job.notes)


# -- tabs ------------------------------------------------------------------------------------------


def test_a_tab_at_a_tab_stop_stays_there() -> None:
    (job,) = render(b"ABCDEFGH\tX\n")  # 8 characters: exactly at the first default stop
    (plain,) = render(b"ABCDEFGHX\n")
    assert ink_columns(job.image) == ink_columns(plain.image)


def test_a_tab_moves_to_the_next_default_stop_every_8_characters() -> None:
    (job,) = render(b"AB\tX\n")
    assert (
        max(ink_columns(job.image)) < 9 * CELL and min(c for c in ink_columns(job.image) if c >= 8 * CELL) >= 8 * CELL
    )


def test_esc_d_sets_the_tab_stops_and_a_tab_past_the_last_does_nothing() -> None:
    (job,) = render(b"\x1bD\x04\x0a\x00A\tB\tC\tD\n")
    (plain,) = render(b"A   B     CD\n")  # B at column 4, C at 10, then no stop left
    assert ink_columns(job.image) == ink_columns(plain.image)


# -- rotation ----------------------------------------------------------------------------------------


def test_upside_down_prints_each_line_rotated_half_a_turn() -> None:
    (normal,) = render(b"AbC\n")
    (flipped,) = render(b"\x1b{\x01AbC\n")
    assert ImageChops.difference(flipped.image, normal.image.rotate(180)).getbbox() is None


def test_upside_down_off_prints_normally_again() -> None:
    (normal,) = render(b"AbC\n")
    (job,) = render(b"\x1b{\x01\x1b{\x00AbC\n")
    assert ImageChops.difference(job.image, normal.image).getbbox() is None


def test_esc_v_turns_characters_a_quarter() -> None:
    (job,) = render(b"\x1bV\x01I\n")
    x0, y0, x1, y1 = ink_box(job.image)
    assert x1 - x0 > y1 - y0  # an I lying on its side


# -- cash drawer ------------------------------------------------------------------------------------


def test_a_drawer_pulse_is_a_job_event_and_counted() -> None:
    printer = Dummy()
    printer.text("paid\n")
    printer.cashdraw(2)
    printer.cut()
    printer.cashdraw(5)  # after the last cut: in no job, still counted
    parser, assembler = Parser(), JobAssembler()
    (job,) = assembler.add(parser.feed(printer.output))
    assert assembler.end_of_stream() is None
    assert job.events == [{"event": "drawer_pulse", "pin": 2, "on_ms": 100, "off_ms": 100}]
    assert assembler.drawer_pulses == 2
    assert assembler.last_drawer_pulse == {"pin": 5, "on_ms": 100, "off_ms": 100}


def test_the_engine_reports_drawer_pulses() -> None:
    engine = PrinterEngine()
    engine.receive(b"\x1bp\x00\x19\xfa")
    engine.end_of_stream()
    assert engine.drawer_pulses == 1
    assert engine.last_drawer_pulse == {"pin": 2, "on_ms": 50, "off_ms": 500}


# -- GS ( L colour planes ---------------------------------------------------------------------------


def _graphics_store(colour: int, width: int, height: int, rows: bytes) -> bytes:
    body = bytes([0x30, 0x70, 0x30, 1, 1, 0x30 + colour]) + width.to_bytes(2, "little") + height.to_bytes(2, "little")
    body += rows
    return b"\x1d(L" + len(body).to_bytes(2, "little") + body


def test_two_colour_graphics_print_both_planes_and_say_colour_2_is_black() -> None:
    left = bytes([0xF0]) * 8  # 8 x 8: left half black
    right = bytes([0x0F]) * 8  # right half
    stream = _graphics_store(1, 8, 8, left) + _graphics_store(2, 8, 8, right) + b"\x1d(L\x02\x00\x30\x32"
    (job,) = render(stream)
    x0, y0, x1, y1 = ink_box(job.image)
    assert (x1 - x0, y1 - y0) == (8, 8)  # both halves: plane 1 was not replaced by plane 2
    assert any("colour 2 printed in black" in note for note in job.notes)


def test_a_one_colour_graphic_prints_with_no_note() -> None:
    (job,) = render(_graphics_store(1, 8, 8, bytes([0xF0]) * 8) + b"\x1d(L\x02\x00\x30\x32")
    assert ink_box(job.image)[2] - ink_box(job.image)[0] == 4
    assert job.notes == []


# -- page mode ------------------------------------------------------------------------------------------


def _ink_rows(image: Image.Image, x0: int, x1: int) -> set[int]:
    ink = np.asarray(image.convert("L"))[:, x0:x1] < 128
    return {int(y) for y in np.flatnonzero(ink.any(axis=1))}


def test_page_mode_places_text_by_position_not_line_after_line() -> None:
    # "L" at the top left; GS $ back to the top, ESC $ to x=300, "R": both on the same band of paper.
    (job,) = render(b"\x1bL\x1bW\x00\x00\x00\x00\x40\x02\xc8\x00L\x1d$\x00\x00\x1b$\x2c\x01R\x0c")
    left, right = _ink_rows(job.image, 0, 100), _ink_rows(job.image, 300, 400)
    assert left and right and left & right  # the same rows: the layout is kept
    (standard,) = render(b"L\n\x1b$\x2c\x01R\n")  # the same in standard mode: two lines
    assert not _ink_rows(standard.image, 0, 100) & _ink_rows(standard.image, 300, 400)


def test_page_mode_area_offsets_the_content() -> None:
    (job,) = render(b"\x1bL\x1bW\x64\x00\x00\x00\xc8\x00\xc8\x00X\x0c")  # area at x=100, 200x200
    assert min(ink_columns(job.image)) >= 100


def test_page_mode_direction_2_prints_the_page_upside_down() -> None:
    (job,) = render(b"\x1bL\x1bW\x00\x00\x00\x00\xc8\x00\x64\x00\x1bT\x02X\x0c")  # 200 x 100 area
    x0, y0, _, _ = ink_box(job.image)
    assert x0 > 150 and y0 > 50  # written from the far corner of the area


def test_nothing_prints_in_page_mode_until_ff() -> None:
    assert render(b"\x1bLheld\x1bS\x1dV\x00")[0].notes  # discarded (noted), nothing on paper
    (job,) = render(b"\x1bLheld\x1bS\x1dV\x00")
    assert ImageChops.invert(job.image.convert("L")).getbbox() is None


# -- what is not drawn is named ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "named"),
    [
        (b"\x1bLpage\x0c", "page mode: lines are placed by their top"),
        (b"\x1bLnever printed\x1bS", "page mode data discarded"),
        (b"\x1br\x01red\n", "ESC r"),
        (b"\x1b{\x01\x1dv0\x00\x01\x00\x01\x00\xff", "images, barcodes and QR codes are drawn upright"),
        (b"\x1df\x01\x1dkE\x03ABC", "GS f"),
        (b"\x1b&\x03\x41\x41\x0c" + bytes(36) + b"A\n", "ESC &"),
        (b"\x1cp\x01\x00text\n", "FS p"),
    ],
)
def test_commands_that_are_not_drawn_are_named_in_the_notes(stream: bytes, named: str) -> None:
    jobs = render(stream)
    assert any(named in note for job in jobs for note in job.notes), [job.notes for job in jobs]


def test_settings_that_change_nothing_leave_no_notes() -> None:
    printer = Dummy()
    printer.set(align="center", bold=True)
    printer.text("plain\n")
    printer.cut()
    (job,) = render(b"\x1b@\x1bt\x00\x1br\x00\x1dP\x00\x00" + printer.output)
    assert job.notes == []
