"""Rendering: what python-escpos sends comes out on the PNG as a printer would print it."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp
from escpos.printer import Dummy
from PIL import Image, ImageChops

from hardware_sim.printer.codepages import decode
from hardware_sim.printer.job import JobAssembler, RenderedJob
from hardware_sim.printer.parser import Parser
from hardware_sim.printer.render import PAPER_WIDTHS

URL = "https://render.alipay.com/p/c/activate?template_id=20240101000000000001&out_string=A1B2"


def render(data: bytes, width_mm: int = 80) -> list[RenderedJob]:
    parser = Parser()
    assembler = JobAssembler(PAPER_WIDTHS[width_mm])
    jobs = assembler.add(parser.feed(data) + parser.close())
    last = assembler.end_of_stream()
    return jobs + ([last] if last is not None else [])


def only_page(printer: Dummy, width_mm: int = 80) -> Image.Image:
    (job,) = render(printer.output, width_mm)
    return job.image


def ink_box(image: Image.Image) -> tuple[int, int, int, int]:
    box = ImageChops.invert(image.convert("L")).getbbox()
    assert box is not None, "nothing was printed"
    return box


def decoded(image: Image.Image) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(image.convert("L"))]


def test_double_size_text_is_twice_as_wide_and_high() -> None:
    normal, double = Dummy(), Dummy()
    normal.text("HHHH\n")
    double.set(double_width=True, double_height=True)
    double.text("HHHH\n")
    x0, y0, x1, y1 = ink_box(only_page(normal))
    dx0, dy0, dx1, dy1 = ink_box(only_page(double))
    assert dx1 - dx0 == pytest.approx(2 * (x1 - x0), abs=2)
    assert dy1 - dy0 == pytest.approx(2 * (y1 - y0), abs=2)


def test_gs_size_scales_by_its_multipliers() -> None:
    printer = Dummy()
    printer.set(custom_size=True, width=4, height=3)
    printer.text("H\n")
    x0, y0, x1, y1 = ink_box(only_page(printer))
    base = Dummy()
    base.text("H\n")
    bx0, by0, bx1, by1 = ink_box(only_page(base))
    assert x1 - x0 == pytest.approx(4 * (bx1 - bx0), abs=4)
    assert y1 - y0 == pytest.approx(3 * (by1 - by0), abs=3)


@pytest.mark.parametrize(("align", "where"), [("left", 0.0), ("center", 0.5), ("right", 1.0)])
def test_alignment_places_the_line_in_the_print_area(align: str, where: float) -> None:
    printer = Dummy()
    printer.set(align=align)
    printer.text("MMMM\n")
    page = only_page(printer)
    x0 = ink_box(page)[0]
    slack = page.width - 4 * 12
    assert x0 == pytest.approx(where * slack, abs=3)


def test_long_lines_wrap_at_the_paper_edge() -> None:
    printer = Dummy()
    printer.text("W" * 40 + "\n")  # 48 columns fit on 80 mm, 32 on 58 mm
    wide = ink_box(only_page(printer, 80))
    narrow = ink_box(only_page(printer, 58))
    assert wide[3] - wide[1] < 30  # one line
    assert narrow[3] - narrow[1] > 30  # two lines
    assert narrow[2] <= PAPER_WIDTHS[58]


def _pattern() -> Image.Image:
    image = Image.new("1", (48, 24), 1)
    for y in range(24):
        for x in range(48):
            if (x // 8 + y // 8) % 2 == 0:
                image.putpixel((x, y), 0)
    return image


@pytest.mark.parametrize("impl", ["bitImageRaster", "graphics", "bitImageColumn"])
def test_images_print_pixel_for_pixel(impl: str) -> None:
    original = _pattern()
    printer = Dummy()
    printer.image(original, impl=impl)
    page = only_page(printer)
    x0, y0, x1, y1 = ink_box(page)
    printed = page.crop((x0, y0, x0 + original.width, y0 + original.height))
    assert (x1 - x0, y1 - y0) == original.size
    assert ImageChops.difference(printed.convert("L"), original.convert("L")).getbbox() is None


@pytest.mark.parametrize("width_mm", [58, 80])
@pytest.mark.parametrize("native", [True, False])
def test_qr_codes_decode_back_to_the_url(width_mm: int, native: bool) -> None:
    printer = Dummy()
    printer.set(align="center")
    printer.qr(URL, native=native, size=6 if width_mm == 80 else 4)
    printer.text("Scan with Alipay\n")
    printer.cut()
    page = only_page(printer, width_mm)
    assert page.width == PAPER_WIDTHS[width_mm]
    assert decoded(page) == [URL]


def test_native_qr_modules_are_crisp_and_have_a_quiet_zone() -> None:
    printer = Dummy()
    printer.qr("quiet", native=True, size=5)
    (job,) = render(printer.output)
    x0, y0, x1, y1 = ink_box(job.image)
    assert (x1 - x0) % 5 == 0 and (y1 - y0) % 5 == 0  # whole modules, no resampling blur
    assert x0 >= 4 * 5  # four white modules to the left of the symbol
    assert set(np.unique(np.asarray(job.image.convert("L")))) <= {0, 255}
    assert job.qr_payloads == [b"quiet"]


def test_barcodes_print_bars_of_the_set_height() -> None:
    printer = Dummy()
    printer.barcode("4006381333931", "EAN13", height=80, width=2, pos="OFF")
    (job,) = render(printer.output)
    x0, y0, x1, y1 = ink_box(job.image)
    assert y1 - y0 == 80
    assert (x1 - x0) == pytest.approx(95 * 2, abs=2)  # EAN-13 is 95 modules
    assert not job.notes


def test_each_cut_ends_a_job_and_the_rest_is_a_job_too() -> None:
    printer = Dummy()
    printer.text("one\n")
    printer.cut()
    printer.text("two\n")
    printer.cut(feed=False)
    printer.text("three\n")
    jobs = render(printer.output)
    assert [job.cut for job in jobs] == [True, True, False]
    assert b"".join(job.raw for job in jobs) == printer.output


def test_a_stream_of_status_queries_alone_leaves_no_job() -> None:
    assert render(b"\x10\x04\x01\x10\x04\x04\x1dr\x01") == []


def test_modes_outlive_a_cut_until_esc_at() -> None:
    printer = Dummy()
    printer.set(align="right")
    printer.text("a\n")
    printer.cut()
    printer.text("b\n")
    printer.cut()
    printer.hw("INIT")
    printer.text("c\n")
    _, second, third = render(printer.output)
    assert ink_box(second.image)[0] > 500
    assert ink_box(third.image)[0] < 20


def test_text_is_decoded_with_the_selected_code_page() -> None:
    assert decode(b"caf\x82", page=0, chinese=False) == "café"  # CP437
    assert decode(b"\x80", page=16, chinese=False) == "€"  # WPC1252
    assert decode("会员卡".encode("gb18030"), page=0, chinese=True) == "会员卡"
    assert decode(b"\xb1", page=1, chinese=False) == "ｱ"  # katakana page
