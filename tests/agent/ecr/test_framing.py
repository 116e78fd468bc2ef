"""NDJSON framing: split on the byte \\n, a hard line limit, nothing buffered beyond it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.ecr.framing import Line, LineFramer, Oversized, looks_like_http


def test_lines_split_on_newline_and_crlf_is_tolerated() -> None:
    framer = LineFramer()
    assert framer.feed(b'{"a":1}\n{"b":2}\r\n{"c"') == [Line(b'{"a":1}'), Line(b'{"b":2}')]
    assert framer.feed(b":3}\n") == [Line(b'{"c":3}')]


def test_blank_lines_are_ignored() -> None:
    assert LineFramer().feed(b"\n\n  \n{}\n") == [Line(b"{}")]


def test_utf8_multibyte_characters_split_across_feeds_survive() -> None:
    data = '{"name":"李飞"}\n'.encode()
    framer = LineFramer()
    frames = [f for byte in data for f in framer.feed(bytes([byte]))]
    assert frames == [Line('{"name":"李飞"}'.encode())]


def test_an_oversized_line_is_reported_at_once_then_skipped_to_its_newline() -> None:
    framer = LineFramer(max_line=10)
    assert framer.feed(b"x" * 11) == [Oversized(10)]
    assert framer.buffered == 0
    assert framer.feed(b"y" * 1000) == []
    assert framer.buffered == 0
    assert framer.feed(b"\n{}\n") == [Line(b"{}")]


def test_a_line_exactly_at_the_limit_passes() -> None:
    assert LineFramer(max_line=10).feed(b"x" * 10 + b"\n") == [Line(b"x" * 10)]


def test_http_requests_are_recognised() -> None:
    assert looks_like_http(b"GET / HTTP/1.1")
    assert looks_like_http(b"POST /gateway.do HTTP/1.1")
    assert looks_like_http(b"Host: 127.0.0.1")
    assert not looks_like_http(b'{"op":"GET "}')


@given(st.lists(st.binary(max_size=40), max_size=20), st.lists(st.integers(min_value=1, max_value=50), max_size=30))
def test_framing_does_not_depend_on_how_the_bytes_are_chopped(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"\n".join(pieces) + b"\n"
    whole = LineFramer(max_line=32).feed(data)
    framer = LineFramer(max_line=32)
    chopped = []
    position = 0
    for cut in cuts:
        chopped += framer.feed(data[position : position + cut])
        position += cut
    chopped += framer.feed(data[position:])
    assert chopped == whole
    assert framer.buffered == 0
