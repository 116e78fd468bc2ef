"""A picture of a slip for the status page: the same slip objects the printer gets, laid out as the
slip builders in `drivers.printer.slip` lay them out (title, wrapped text, QR, small print), in HTML
with the QR code as inline SVG. Pure: no I/O.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Literal

from drivers.printer import PrinterProfile
from drivers.printer.slip import ActivationSlip, Receipt, SelfTestSlip, human_url, wrap

Slip = ActivationSlip | SelfTestSlip | Receipt
Style = Literal["title", "center", "left", "small", "feed", "qr", "cut"]


@dataclass(frozen=True)
class Block:
    style: Style
    text: str = ""


def slip_blocks(slip: Slip, profile: PrinterProfile) -> list[Block]:
    columns = profile.chars_per_line
    blocks: list[Block] = []
    if isinstance(slip, ActivationSlip):
        blocks.append(Block("title", slip.store_name))
        blocks += [Block("center", line) for text in slip.instructions for line in wrap(text, columns)]
        blocks += [Block("feed"), Block("qr", slip.url), Block("small", human_url(slip.url, columns))]
        blocks += [Block("center", line) for line in wrap(slip.footer, columns)]
        blocks.append(Block("cut"))
    elif isinstance(slip, SelfTestSlip):
        qr_path = "native (GS ( k)" if profile.native_qr else "image"
        blocks.append(Block("title", "POS Agent test print"))
        for text in (f"printer: {slip.printer}", f"status: {slip.status}",
                     f"paper: {profile.paper_mm} mm, {columns} columns",
                     f"QR: {qr_path}, code page: {profile.code_page}", *slip.extra_lines,
                     "0123456789" * (columns // 10)):  # fmt: skip
            blocks += [Block("left", line) for line in wrap(text, columns)]
        blocks.append(Block("feed"))
        blocks += [Block("center", line) for line in wrap("Scan this code back with posagent scan-test:", columns)]
        blocks += [Block("qr", slip.qr_text), Block("small", slip.qr_text), Block("cut")]
    else:
        if slip.title:
            blocks.append(Block("title", slip.title))
        for text in slip.lines:
            blocks += [Block("left", line) for line in wrap(text, columns)] if text.strip() else [Block("feed")]
        if slip.qr:
            blocks += [Block("feed"), Block("qr", slip.qr)]
        if slip.cut:
            blocks.append(Block("cut"))
    return blocks


def qr_svg(data: str) -> str:
    """The QR symbol as one SVG path (with its 4-module quiet zone), scaled by CSS."""
    import qrcode  # noqa: PLC0415 - loads Pillow: only when a slip is previewed

    code = qrcode.QRCode(border=4)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    path = "".join(f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark)
    return (f'<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
            f'shape-rendering="crispEdges" role="img" aria-label="QR code"><rect width="{size}" height="{size}" '
            f'fill="#fff"/><path d="{path}" fill="#000"/></svg>')  # fmt: skip


def render_slip(blocks: list[Block], profile: PrinterProfile) -> str:
    parts = [f'<div class="slip" style="width:{profile.chars_per_line + 2}ch">']
    for block in blocks:
        text = html.escape(block.text)
        if block.style == "qr":
            from qrcode.exceptions import DataOverflowError  # noqa: PLC0415 - see qr_svg

            try:
                parts.append(qr_svg(block.text))
            except (ValueError, DataOverflowError):
                parts.append('<p class="center">[QR code too long to draw]</p>')
        elif block.style == "feed":
            parts.append('<p class="feed">&nbsp;</p>')
        elif block.style == "cut":
            parts.append('<p class="cut">- - - - cut - - - -</p>')
        else:
            parts.append(f'<p class="{block.style}">{text}</p>')
    parts.append("</div>")
    return "".join(parts)


def preview(slip: Slip, profile: PrinterProfile) -> str:
    return render_slip(slip_blocks(slip, profile), profile)
