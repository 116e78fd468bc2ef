"""Slips as HTML: the same blocks the printer gets, in order, text escaped, and a QR SVG that scans back."""

from __future__ import annotations

import re

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from agent.web.slip_preview import Block, preview, qr_svg, render_slip, slip_blocks
from drivers.printer import PrinterProfile
from drivers.printer.slip import ActivationSlip, Receipt, SelfTestSlip

NARROW = PrinterProfile(paper_mm=58)  # 32 columns
WIDE = PrinterProfile(paper_mm=80)  # 48 columns
URL = "https://qr.alipay.com/c/abc?token=xyz&s=1"
MODULE_PX = 8
_SQUARE = re.compile(r"M(\d+),(\d+)h1v1h-1z")


def styles_and_texts(blocks: list[Block]) -> list[tuple[str, str]]:
    return [(b.style, b.text) for b in blocks]


def is_subsequence(wanted: list[tuple[str, str]], got: list[tuple[str, str]]) -> bool:
    rest = iter(got)
    return all(item in rest for item in wanted)


def scan_svg(svg: str) -> str:
    """Paint the SVG's unit squares on white, MODULE_PX pixels per module, and decode what a scanner would read."""
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))  # type: ignore[union-attr]
    path = re.search(r'<path d="([^"]*)"', svg).group(1)  # type: ignore[union-attr]
    assert _SQUARE.sub("", path) == "", "the path holds only unit squares"
    modules = np.full((size, size), 255, dtype=np.uint8)
    for x, y in _SQUARE.findall(path):
        modules[int(y), int(x)] = 0
    pixels = np.kron(modules, np.ones((MODULE_PX, MODULE_PX), dtype=np.uint8))
    found = zxingcpp.read_barcodes(Image.fromarray(pixels, mode="L"))
    assert len(found) == 1, f"expected one code, found {len(found)}"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(found[0].text)


def test_an_activation_slip_on_58_mm() -> None:
    slip = ActivationSlip("Store 12", URL, footer="Thank you for shopping with us today")

    assert styles_and_texts(slip_blocks(slip, NARROW)) == [
        ("title", "Store 12"),
        ("center", "Scan with Alipay to get your"), ("center", "membership card."),
        ("center", "Open Alipay, tap Scan, point at"), ("center", "the code."),
        ("feed", ""), ("qr", URL), ("small", "qr.alipay.com/c/abc..."),
        ("center", "Thank you for shopping with us"), ("center", "today"),
        ("cut", ""),
    ]  # fmt: skip


def test_an_activation_slip_on_80_mm_without_a_footer() -> None:
    slip = ActivationSlip("Store 12", URL)

    assert styles_and_texts(slip_blocks(slip, WIDE)) == [
        ("title", "Store 12"),
        ("center", "Scan with Alipay to get your membership card."),
        ("center", "Open Alipay, tap Scan, point at the code."),
        ("feed", ""), ("qr", URL), ("small", "qr.alipay.com/c/abc..."),
        ("cut", ""),
    ]  # fmt: skip


@pytest.mark.parametrize(("profile", "columns"), [(NARROW, 32), (WIDE, 48)])
def test_a_self_test_slip_lists_the_printer_then_the_qr_to_scan_back(profile: PrinterProfile, columns: int) -> None:
    slip = SelfTestSlip("tcp://192.168.1.50:9100", "POSAGENT-TEST-1234", "ready", ("extra one",))

    blocks = styles_and_texts(slip_blocks(slip, profile))
    left = " ".join(text for style, text in blocks if style == "left")

    assert blocks[0] == ("title", "POS Agent test print")
    assert blocks[-3:] == [("qr", "POSAGENT-TEST-1234"), ("small", "POSAGENT-TEST-1234"), ("cut", "")]
    order = ["printer: tcp://192.168.1.50:9100", "status: ready", f"paper: {profile.paper_mm} mm, {columns} columns",
             "QR: native (GS ( k), code page:", "extra one"]  # fmt: skip
    positions = [left.index(text) for text in order]
    assert positions == sorted(positions)
    assert [style for style, _ in blocks].index("feed") < [style for style, _ in blocks].index("qr")


def test_a_self_test_slip_says_which_qr_path_the_profile_takes() -> None:
    image_path = PrinterProfile(paper_mm=80, native_qr=False)
    slip = SelfTestSlip("usb://0x0416:0x5011", "X")

    assert ("left", "QR: image, code page: CP437") in styles_and_texts(slip_blocks(slip, image_path))


def test_the_self_test_preview_follows_the_printed_layout_on_58_mm() -> None:
    """drivers.printer.slip.self_test_slip prints a column ruler and wraps the scan-back line to the paper."""
    slip = SelfTestSlip("tcp://192.168.1.50:9100", "POSAGENT-TEST-1234", "ready")

    blocks = styles_and_texts(slip_blocks(slip, NARROW))

    assert ("left", "0123456789" * 3) in blocks  # the ruler the printer prints to check the width
    assert [t for s, t in blocks if s == "center"] == ["Scan this code back with", "posagent scan-test:"]
    assert all(len(text) <= NARROW.chars_per_line for style, text in blocks if style in ("left", "center", "small"))


def test_a_receipt_keeps_its_lines_blank_lines_and_qr_in_order() -> None:
    slip = Receipt(lines=("Coffee 12.00", "", "Total 12.00"), title="Receipt", qr="https://example.com/r/1")

    assert styles_and_texts(slip_blocks(slip, WIDE)) == [
        ("title", "Receipt"), ("left", "Coffee 12.00"), ("feed", ""), ("left", "Total 12.00"),
        ("feed", ""), ("qr", "https://example.com/r/1"), ("cut", ""),
    ]  # fmt: skip


def test_a_receipt_without_title_qr_or_cut() -> None:
    slip = Receipt(lines=("a long line that is wider than the thirty-two columns of 58 mm paper",), cut=False)

    blocks = styles_and_texts(slip_blocks(slip, NARROW))

    assert [style for style, _ in blocks] == ["left", "left", "left"]
    assert " ".join(text for _, text in blocks) == slip.lines[0]
    assert all(len(text) <= 32 for _, text in blocks)


@pytest.mark.parametrize(
    "data",
    [
        URL,
        "https://qr.alipay.com/s/abc123?store=12&t=1780000000&sig=Zx%2B9",
        "会员卡：南京路12号店 欢迎光临",
        "POSAGENT-TEST-1234",
    ],
)
def test_the_qr_svg_scans_back_to_the_data(data: str) -> None:
    assert scan_svg(qr_svg(data)) == data


def test_the_qr_svg_has_a_quiet_zone() -> None:
    svg = qr_svg(URL)
    size = int(re.search(r'viewBox="0 0 (\d+)', svg).group(1))  # type: ignore[union-attr]
    squares = [(int(x), int(y)) for x, y in _SQUARE.findall(svg)]

    assert min(min(x, y) for x, y in squares) == 4
    assert max(max(x, y) for x, y in squares) == size - 5


def test_render_slip_escapes_text() -> None:
    blocks = [Block("title", "<b>Store & Co</b>"), Block("left", '<script>alert("x")</script>'), Block("small", "a<b")]

    document = render_slip(blocks, WIDE)

    assert "<script>" not in document and "<b>" not in document
    assert "&lt;b&gt;Store &amp; Co&lt;/b&gt;" in document
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in document
    assert "a&lt;b" in document


def test_render_slip_lays_out_each_block() -> None:
    document = render_slip([Block("title", "T"), Block("feed"), Block("qr", "Q"), Block("cut")], NARROW)

    assert document.startswith('<div class="slip" style="width:34ch">') and document.endswith("</div>")
    positions = [document.index(mark) for mark in ('class="title"', 'class="feed"', "<svg", 'class="cut"')]
    assert positions == sorted(positions)
    assert document.count("<svg") == 1


def test_a_qr_too_long_to_draw_is_said_not_raised() -> None:
    document = render_slip([Block("qr", "x" * 5000)], WIDE)

    assert "too long" in document and "<svg" not in document


def test_preview_renders_the_blocks_of_a_slip() -> None:
    slip = ActivationSlip("Store <12>", URL)

    document = preview(slip, WIDE)

    assert "Store &lt;12&gt;" in document
    assert scan_svg(document[document.index("<svg") : document.index("</svg>") + 6]) == URL
