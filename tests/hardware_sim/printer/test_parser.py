"""The ESC/POS parser: bytes in, typed commands out, whatever the bytes and however they are split."""

from __future__ import annotations

import re

import pytest
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware_sim.printer import commands as c
from hardware_sim.printer.parser import MAX_COMMAND_BYTES, Parser

from .conftest import escpos_streams


def parse(data: bytes) -> list[c.Command]:
    parser = Parser()
    return parser.feed(data) + parser.close()


def parse_bytewise(data: bytes) -> list[c.Command]:
    parser = Parser()
    out: list[c.Command] = []
    for index in range(len(data)):
        out += parser.feed(data[index : index + 1])
    return out + parser.close()


def without_text_splits(commands: list[c.Command]) -> list[c.Command]:
    """Text runs may arrive in pieces; join neighbours so two parses can be compared."""
    joined: list[c.Command] = []
    for command in commands:
        if isinstance(command, c.Text) and joined and isinstance(joined[-1], c.Text):
            data = joined[-1].data + command.data
            joined[-1] = c.Text(raw=data, data=data)
        else:
            joined.append(command)
    return joined


def test_a_receipt_with_a_native_qr_parses_to_typed_commands() -> None:
    printer = Dummy()
    printer.set(align="center", bold=True)
    printer.text("Hi\n")
    printer.qr("https://example.com/a?b=1", native=True, size=6, ec=QR_ECLEVEL_M)
    printer.cut()

    commands = parse(printer.output)
    kinds = [type(command) for command in commands]

    assert c.SetAlign(raw=b"\x1ba\x01", align=1) in commands
    assert c.Text(raw=b"Hi", data=b"Hi") in commands
    assert c.QrModel(raw=b"\x1d(k\x04\x001A2\x00", model=2) in commands
    assert c.QrSize(raw=b"\x1d(k\x03\x001C\x06", module=6) in commands
    assert any(isinstance(x, c.QrEcc) and x.level == "M" for x in commands)
    assert [x.data for x in commands if isinstance(x, c.QrStore)] == [b"https://example.com/a?b=1"]
    assert kinds.index(c.QrStore) < kinds.index(c.QrPrint) < kinds.index(c.Cut)
    assert commands[-1] == c.Cut(raw=b"\x1dV\x00", partial=False, feed=0)
    assert not any(isinstance(x, c.Unknown | c.Truncated) for x in commands)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x1b@", c.Init(raw=b"\x1b@")),
        (b"\x1b!\x38", c.SetPrintMode(raw=b"\x1b!\x38", mode=0x38)),
        (b"\x1d!\x11", c.SetCharSize(raw=b"\x1d!\x11", width=2, height=2)),
        (b"\x1d!\x70", c.SetCharSize(raw=b"\x1d!\x70", width=8, height=1)),
        (b"\x1bE\x01", c.SetBold(raw=b"\x1bE\x01", on=True)),
        (b"\x1b-\x02", c.SetUnderline(raw=b"\x1b-\x02", dots=2)),
        (b"\x1bM\x01", c.SetFont(raw=b"\x1bM\x01", font=1)),
        (b"\x1ba\x32", c.SetAlign(raw=b"\x1ba\x32", align=2)),
        (b"\x1bd\x05", c.Feed(raw=b"\x1bd\x05", lines=5)),
        (b"\x1bJ\x40", c.Feed(raw=b"\x1bJ\x40", dots=64)),
        (b"\x1b3\x10", c.SetLineSpacing(raw=b"\x1b3\x10", dots=16)),
        (b"\x1b2", c.SetLineSpacing(raw=b"\x1b2", dots=None)),
        (b"\x1bt\x10", c.CodePage(raw=b"\x1bt\x10", page=16)),
        (b"\x1dVA\x03", c.Cut(raw=b"\x1dVA\x03", partial=False, feed=3)),
        (b"\x1dVB\x00", c.Cut(raw=b"\x1dVB\x00", partial=True, feed=0)),
        (b"\x1dV\x01", c.Cut(raw=b"\x1dV\x01", partial=True, feed=0)),
        (b"\x1bp\x01\x32\x32", c.CashDrawer(raw=b"\x1bp\x01\x32\x32", pin=5, on_ms=100, off_ms=100)),
        (b"\x1dr\x01", c.StatusRequest(raw=b"\x1dr\x01", command="GS r", n=1)),
        (b"\x1da\xff", c.AutoStatusBack(raw=b"\x1da\xff", mask=0xFF)),
        (b"\x1dkE\x03ABC", c.Barcode(raw=b"\x1dkE\x03ABC", system=69, data=b"ABC")),
        (b"\x1dk\x02123\x00", c.Barcode(raw=b"\x1dk\x02123\x00", system=2, data=b"123")),
        (b"\x1dL\x20\x00", c.SetLeftMargin(raw=b"\x1dL\x20\x00", dots=32)),
        (b"\x1c&", c.SetKanjiMode(raw=b"\x1c&", on=True)),
    ],
)
def test_each_command_parses_to_its_typed_form(data: bytes, expected: c.Command) -> None:
    assert parse(data) == [expected]


def test_raster_image_carries_its_geometry_and_data() -> None:
    data = b"\x1dv0\x00\x02\x00\x03\x00" + bytes(range(6))
    (image,) = parse(data)
    assert image == c.RasterImage(raw=data, mode=0, width_bytes=2, height=3, data=bytes(range(6)))


def test_column_image_24_dot_takes_three_bytes_per_column() -> None:
    data = b"\x1b*\x21\x02\x00" + b"\xff" * 6 + b"after"
    commands = parse(data)
    assert commands[0] == c.ColumnImage(raw=data[:11], mode=33, columns=2, data=b"\xff" * 6)
    assert commands[1] == c.Text(raw=b"after", data=b"after")


def test_graphics_store_and_print_with_both_length_forms() -> None:
    body = b"0p0\x01\x011\x08\x00\x02\x00" + b"\xaa\x55"
    short = b"\x1d(L" + len(body).to_bytes(2, "little") + body
    long = b"\x1d8L" + len(body).to_bytes(4, "little") + body
    for data in (short, long):
        store, show = parse(data + b"\x1d(L\x02\x0002")
        assert isinstance(store, c.GraphicsStore)
        assert (store.width, store.height, store.data) == (8, 2, b"\xaa\x55")
        assert isinstance(show, c.GraphicsPrint)


def test_a_command_split_at_every_byte_gives_the_same_commands() -> None:
    printer = Dummy()
    printer.set(align="center", double_height=True, custom_size=False)
    printer.text("Split me\n")
    printer.qr("split", native=True)
    printer.image(_checkerboard(), impl="bitImageRaster")
    printer.barcode("4006381333931", "EAN13")
    printer.cut()
    whole = parse(printer.output)
    assert without_text_splits(parse_bytewise(printer.output)) == without_text_splits(whole)


def test_dle_eot_between_commands_is_one_status_request_and_prints_nothing() -> None:
    commands = parse(b"AB\x10\x04\x01CD")
    assert commands == [
        c.Text(raw=b"AB", data=b"AB"),
        c.StatusRequest(raw=b"\x10\x04\x01", command="DLE EOT", n=1),
        c.Text(raw=b"CD", data=b"CD"),
    ]


def test_dle_eot_inside_image_data_is_answered_before_the_image_completes() -> None:
    # A real printer executes DLE EOT the moment it arrives, even inside bit-image data; the bytes
    # are still image data. So the request comes out first, and the image keeps all its bytes.
    pixels = b"\x00\x10\x04\x02\x00\x00"
    data = b"\x1dv0\x00\x02\x00\x03\x00" + pixels
    parser = Parser()
    first = parser.feed(data[:12])
    rest = parser.feed(data[12:])
    assert first == [c.StatusRequest(raw=b"\x10\x04\x02", command="DLE EOT", n=2)]
    assert rest == [c.RasterImage(raw=data, mode=0, width_bytes=2, height=3, data=pixels)]


def test_dle_eot_split_across_feeds_is_seen_once() -> None:
    parser = Parser()
    events = parser.feed(b"x\x10") + parser.feed(b"\x04") + parser.feed(b"\x04y")
    requests = [e for e in events if isinstance(e, c.StatusRequest)]
    assert requests == [c.StatusRequest(raw=b"\x10\x04\x04", command="DLE EOT", n=4)]


def test_unknown_commands_are_skipped_counted_and_parsing_goes_on() -> None:
    parser = Parser()
    commands = parser.feed(b"\x1b\x01A\x1d\xfeB\x1fC") + parser.close()
    assert [type(x) for x in commands] == [c.Unknown, c.Text, c.Unknown, c.Text, c.Unknown, c.Text]
    assert [x.raw for x in commands if isinstance(x, c.Unknown)] == [b"\x1b\x01", b"\x1d\xfe", b"\x1f"]
    assert parser.unknown == 3


def test_a_command_cut_off_by_the_end_of_the_stream_is_reported_truncated() -> None:
    parser = Parser()
    assert parser.feed(b"ok\x1dv0\x00\x10\x00\x10\x00\xff\xff") == [c.Text(raw=b"ok", data=b"ok")]
    assert parser.pending == 10
    assert parser.close() == [c.Truncated(raw=b"\x1dv0\x00\x10\x00\x10\x00\xff\xff")]
    assert parser.truncated == 1
    assert parser.close() == []


def test_a_huge_declared_length_is_skipped_without_buffering_it() -> None:
    parser = Parser()
    header = b"\x1d8L" + (MAX_COMMAND_BYTES + 10).to_bytes(4, "little")
    events = parser.feed(header + b"\x00" * 1000)
    assert events == [c.Unknown(raw=header)]
    assert parser.pending < MAX_COMMAND_BYTES  # still counting down the body, holding none of it
    parser.feed(b"\x00" * (MAX_COMMAND_BYTES + 10 - 1000))
    assert parser.pending == 0
    assert parser.feed(b"after") == [c.Text(raw=b"after", data=b"after")]


@pytest.mark.parametrize("path", escpos_streams(), ids=lambda p: p.name)
def test_real_streams_parse_the_same_however_they_are_chunked(path: object) -> None:
    from pathlib import Path

    data = Path(str(path)).read_bytes()
    whole = parse(data)
    parser = Parser()
    chunked: list[c.Command] = []
    for start in range(0, len(data), 7):
        chunked += parser.feed(data[start : start + 7])
    chunked += parser.close()
    assert without_text_splits(chunked) == without_text_splits(whole)
    assert not any(isinstance(x, c.Truncated) for x in whole)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=8))
def test_random_bytes_never_crash_and_lose_nothing(data: bytes, cuts: list[int]) -> None:
    parser = Parser()
    out: list[c.Command] = []
    start = 0
    for cut in sorted(cuts):
        out += parser.feed(data[start:cut])
        start = max(start, cut)
    out += parser.feed(data[start:]) + parser.close()
    realtime = [x for x in out if isinstance(x, c.StatusRequest) and x.command == "DLE EOT"]
    rest = b"".join(x.raw for x in out if x not in realtime)
    assert parser.pending == 0
    assert len(realtime) == len(re.findall(rb"\x10\x04[\x01-\x04]", data))
    if not realtime:
        assert rest == data  # every byte is in exactly one command, in order
    else:  # a request between commands has no other command; one inside data stays in that data
        assert len(data) - 3 * len(realtime) <= len(rest) <= len(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"\x1b",
                b"\x1d",
                b"\x1c",
                b"\x10",
                b"\x04",
                b"\x01",
                b"(",
                b"k",
                b"L",
                b"v",
                b"0",
                b"\x00",
                b"\xff",
                b"*",
                b"!",
                b"V",
                b"8",
                b"&",
                b"q",
                b"\n",
                b"A",
            ]
        ),
        max_size=80,
    )
)
def test_command_like_garbage_never_crashes(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert parse(data) is not None
    assert without_text_splits(parse_bytewise(data)) == without_text_splits(parse(data))


def _checkerboard() -> object:
    from PIL import Image

    image = Image.new("1", (16, 16), 1)
    for y in range(16):
        for x in range(16):
            if (x // 4 + y // 4) % 2:
                image.putpixel((x, y), 0)
    return image
