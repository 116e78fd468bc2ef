"""Barcodes: every symbology python-escpos sends is drawn so that a scanner reads back what was sent."""

from __future__ import annotations

from pathlib import Path

import pytest
import zxingcpp
from escpos.printer import Dummy
from PIL import Image, ImageOps

from hardware_sim.printer import commands as c
from hardware_sim.printer.job import JobAssembler, RenderedJob
from hardware_sim.printer.parser import Parser
from hardware_sim.printer.render import PAPER_WIDTHS, Renderer


def render(data: bytes, width_mm: int = 80) -> list[RenderedJob]:
    parser = Parser()
    assembler = JobAssembler(PAPER_WIDTHS[width_mm])
    jobs = assembler.add(parser.feed(data) + parser.close())
    last = assembler.end_of_stream()
    return jobs + ([last] if last is not None else [])


def scanned(image: Image.Image) -> list[str]:
    """What a scanner reads off the page (paper has white margins beyond the printable width)."""
    page = ImageOps.expand(image.convert("L"), 40, fill=255)
    results = zxingcpp.read_barcodes(page, text_mode=zxingcpp.TextMode.Plain)
    return [r.text for r in sorted(results, key=lambda r: r.position.top_left.y)]


# (python-escpos name, data sent, what a scanner reports). UPC-A reads as EAN-13 with a leading 0,
# UPC-E as its UPC-A expansion (GTIN-13); GS1 symbols as their element string.
CASES = [
    ("UPC-A", "01234567890", "0012345678905"),
    ("UPC-A", "012345678905", "0012345678905"),
    ("UPC-E", "0123456", "0012345000065"),
    ("UPC-E", "01234565", "0012345000065"),
    ("UPC-E", "01200000345", "0012000003455"),
    ("EAN13", "400638133393", "4006381333931"),
    ("EAN13", "4006381333931", "4006381333931"),
    ("EAN8", "9638507", "96385074"),
    ("EAN8", "96385074", "96385074"),
    ("CODE39", "A-1 $/+%.", "A-1 $/+%."),
    ("CODE39", "*TEXT*", "TEXT"),
    ("ITF", "0123456789", "0123456789"),
    ("NW7", "A012$+-./:B", "A012$+-./:B"),
    ("CODABAR", "c40156d", "C40156D"),
    ("CODE93", "Hi, 93!", "Hi, 93!"),
    ("CODE93", "012abcd", "012abcd"),
    ("CODE128", "{B012ABCDabcd", "012ABCDabcd"),
    ("CODE128", "{C\x0c\x22\x38\x4e", "12345678"),
    ("CODE128", "{C\x15\x20\x2b", "213243"),
    ("CODE128", "{C\x0c\x22{BAB{S\x01x", "1234AB\x01x"),
    ("CODE128", "{A\x01AB{Bab{C\x01\x02", "\x01ABab0102"),
    ("CODE128", "{Bx{{y", "x{y"),
    ("GS1-128", "{C(01)09501101530003(10)ABC", "010950110153000310ABC"),
    ("GS1 DATABAR OMNIDIRECTIONAL", "0950110153000", "0109501101530003"),
    ("GS1 DATABAR TRUNCATED", "0950110153000", "0109501101530003"),
    ("GS1 DATABAR LIMITED", "0950110153000", "0109501101530003"),
    ("GS1 DATABAR EXPANDED", "(01)09501101530003", "0109501101530003"),
]


@pytest.mark.parametrize(("symbology", "data", "expected"), CASES, ids=lambda v: repr(v)[:24])
@pytest.mark.parametrize("width_mm", [58, 80])
def test_every_python_escpos_symbology_scans_back_to_the_data_sent(
    symbology: str, data: str, expected: str, width_mm: int
) -> None:
    printer = Dummy()
    printer.barcode(data, symbology, width=2, height=80, function_type="B")
    (job,) = render(printer.output, width_mm)
    assert scanned(job.image) == [expected]
    assert job.notes == []


@pytest.mark.parametrize(
    ("symbology", "data"),
    [
        ("UPC-A", "01234567890"),
        ("EAN13", "400638133393"),
        ("EAN8", "9638507"),
        ("CODE39", "ABC"),
        ("ITF", "1234"),
        ("NW7", "A1234B"),
    ],
)
def test_function_a_forms_print_the_same(symbology: str, data: str) -> None:
    a, b = Dummy(), Dummy()
    a.barcode(data, symbology, function_type="A")
    b.barcode(data, symbology, function_type="B")
    (job_a,), (job_b,) = render(a.output), render(b.output)
    assert scanned(job_a.image) == scanned(job_b.image) != []


def test_code39_gets_no_check_character() -> None:
    from hardware_sim.printer.symbologies import encode  # new on this branch: imported here so the rest runs

    assert encode(69, b"ABC").hri == "*ABC*"
    printer = Dummy()
    printer.barcode("ABC", "CODE39", function_type="B")
    (job,) = render(printer.output)
    assert scanned(job.image) == ["ABC"]


def test_the_human_readable_line_hides_code_set_selectors() -> None:
    from hardware_sim.printer.symbologies import encode

    assert encode(73, b"{B012ABCDabcd").hri == "012ABCDabcd"
    assert encode(73, b"{C\x0c\x22{Bx").hri == "1234x"
    assert encode(74, b"(01)09501101530003").hri == "(01)09501101530003"


def test_a_barcode_wider_than_the_paper_is_not_printed_and_the_job_says_so() -> None:
    printer = Dummy()
    printer.barcode("{B" + "W" * 40, "CODE128", width=6, function_type="B")  # 40 * 11 * 6 dots
    (job,) = render(printer.output, 58)
    assert scanned(job.image) == []
    assert any("CODE128 not printed" in note and "print area is 384" in note for note in job.notes)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x1dkI\x03ABC", "must start with a code set"),
        (b"\x1dkI\x04{Cx1", "values 0-99"),
        (b"\x1dkE\x03abc", "cannot encode"),
        (b"\x1dkB\x0c012345678901", "cannot be zero-suppressed"),
        (b"\x1dkC\x03123", "needs 12 or 13 digits"),
    ],
)
def test_data_a_printer_refuses_prints_nothing_and_is_noted(raw: bytes, reason: str) -> None:
    (job,) = render(b"before\n" + raw + b"after\n")
    assert any("not printed" in note and reason in note for note in job.notes), job.notes
    assert scanned(job.image) == []


def test_a_text_line_wider_than_the_bars_does_not_stop_the_barcode() -> None:
    # 34 digits in code set C at module 1: 222 dots of bars, but 34 x 12 = 408 dots of text on 384.
    digits = "1234567890" * 3 + "1234"
    data = "{C" + "".join(chr(int(digits[i : i + 2])) for i in range(0, 34, 2))
    printer = Dummy()
    printer.barcode(data, "CODE128", width=2, pos="BELOW", function_type="B")
    (job,) = render(printer.output.replace(b"\x1dw\x02", b"\x1dw\x01"), 58)
    assert scanned(job.image) == [digits]
    assert job.notes == []


def test_a_wrong_check_digit_is_printed_as_sent_and_noted() -> None:
    (job,) = render(b"\x1dkA\x0c012345678901")
    assert any("check digit 1 is wrong (expected 5)" in note for note in job.notes)


def test_the_real_capture_scans_back_except_what_its_data_gets_wrong(escpos_dir: Path) -> None:
    """barcode.bin (escpos-php): 40 barcodes. Each is rendered on a page of its own with the modes
    the stream set so far, so identical symbols stacked on one page are not merged by the decoder."""
    renderer = Renderer(PAPER_WIDTHS[80])
    parser = Parser()
    outcomes: list[tuple[bytes, list[str], list[str]]] = []
    for command in parser.feed((escpos_dir / "barcode.bin").read_bytes()) + parser.close():
        if isinstance(command, c.Barcode):
            renderer.finish_page()
            renderer.apply(command)
            page = renderer.finish_page()
            outcomes.append((command.data, scanned(page.image), page.notes))
        else:
            renderer.apply(command)
    assert len(outcomes) == 40
    unread = [(data, notes) for data, codes, notes in outcomes if not codes]
    # Only symbols 1 dot high (GS h 1) or whose data is wrong (check digits, UPC-E data that cannot
    # be zero-suppressed) fail to scan, and the wrong data is named in the notes.
    assert all(notes or data == b"ABC" for data, notes in unread), unread
    assert len(unread) <= 6
    read = [codes[0] for _, codes, _ in outcomes if codes]
    for expected in (
        "ABC",
        "ABC 012",
        "$%+-./",
        "TEXT",
        "0123456789",
        "A012$+-./:A",
        "012abcd",
        "012ABCD",
        "012ABCDabcd",
        "213243",
    ):
        assert expected in read


def _gs_k_2d(symbol: int, fn: int, params: bytes) -> bytes:
    body = bytes([symbol, fn]) + params
    return b"\x1d(k" + len(body).to_bytes(2, "little") + body


@pytest.mark.parametrize(("symbol", "name"), [(0x30, "PDF417"), (0x35, "Aztec"), (0x36, "DataMatrix")])
def test_gs_k_2d_symbols_scan_back_to_the_stored_data(symbol: int, name: str) -> None:
    data = b"Order 42 / table 7"
    stream = _gs_k_2d(symbol, 0x43, b"\x03") + _gs_k_2d(symbol, 0x50, b"0" + data) + _gs_k_2d(symbol, 0x51, b"0")
    (job,) = render(stream)
    assert scanned(job.image) == [data.decode()]
    assert any(name in note for note in job.notes)  # the layout is zxing-cpp's, and the job says so


def test_the_captured_pdf417_symbols_scan_back(escpos_dir: Path) -> None:
    jobs = render((escpos_dir / "pdf417-code.bin").read_bytes())
    codes = [code for job in jobs for code in scanned(job.image)]
    notes = [note for job in jobs for note in job.notes]
    assert codes and set(codes) == {"Testing 123"}
    assert all("PDF417" in note for note in notes)
