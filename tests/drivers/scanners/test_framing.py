"""Framing: scanner bytes -> codes or rejections, with time passed in."""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.scanners.framing import Code, Framer, FramingConfig, Rejected, Terminator, parse_code


def codes(results: list[Code | Rejected]) -> list[str]:
    return [r.text for r in results if isinstance(r, Code)]


def rejections(results: list[Code | Rejected]) -> list[str]:
    return [r.reason for r in results if isinstance(r, Rejected)]


@pytest.mark.parametrize(
    ("terminator", "stream"),
    [
        (Terminator.CR, b"2800000000000001\r2800000000000002\r"),
        (Terminator.LF, b"2800000000000001\n2800000000000002\n"),
        (Terminator.CRLF, b"2800000000000001\r\n2800000000000002\r\n"),
    ],
)
def test_each_terminator_ends_a_code(terminator: Terminator, stream: bytes) -> None:
    framer = Framer(FramingConfig(terminator=terminator))
    assert codes(framer.feed(stream, now=0.0)) == ["2800000000000001", "2800000000000002"]


def test_a_code_split_across_reads_is_joined() -> None:
    framer = Framer(FramingConfig(terminator=Terminator.CRLF))
    assert framer.feed(b"28000000", 0.0) == []
    assert framer.feed(b"00000001\r", 0.01) == []
    assert codes(framer.feed(b"\n", 0.02)) == ["2800000000000001"]


def test_crlf_from_a_scanner_on_a_cr_port_is_not_garbage() -> None:
    framer = Framer(FramingConfig(terminator=Terminator.CR))
    results = framer.feed(b"ABC\r\nDEF\r\n", 0.0)
    assert codes(results) == ["ABC", "DEF"]
    assert rejections(results) == []


def test_no_terminator_ends_a_code_when_the_line_goes_idle() -> None:
    framer = Framer(FramingConfig(terminator=Terminator.NONE, idle_timeout=0.05))
    assert framer.feed(b"2800000000000001", now=1.0) == []
    assert framer.deadline() == pytest.approx(1.05)
    assert framer.tick(now=1.04) == []
    assert codes(framer.tick(now=1.05)) == ["2800000000000001"]
    assert framer.deadline() is None
    assert framer.tick(now=5.0) == []


def test_idle_timeout_restarts_with_every_byte() -> None:
    framer = Framer(FramingConfig(terminator=Terminator.NONE, idle_timeout=0.05))
    framer.feed(b"12", now=1.0)
    framer.feed(b"34", now=1.04)
    assert framer.tick(now=1.06) == []
    assert codes(framer.tick(now=1.09)) == ["1234"]


def test_a_line_that_never_ends_is_dropped_with_a_warning() -> None:
    framer = Framer(FramingConfig(terminator=Terminator.CR, partial_timeout=1.0))
    framer.feed(b"2800000000", now=0.0)
    assert framer.tick(now=0.5) == []
    assert rejections(framer.tick(now=1.0)) == ["incomplete code dropped (no terminator)"]
    assert codes(framer.feed(b"OK\r", now=2.0)) == ["OK"]


def test_prefix_and_suffix_are_stripped() -> None:
    framer = Framer(FramingConfig(prefix=b"STX:", suffix=b"#"))
    assert codes(framer.feed(b"STX:12345#\r", 0.0)) == ["12345"]
    assert codes(framer.feed(b"12345\r", 0.0)) == ["12345"]  # absent ones are fine


def test_aim_identifier_is_stripped_and_reported() -> None:
    [result] = Framer().feed(b"]Q1https://example.com/x\r", 0.0)
    assert isinstance(result, Code)
    assert (result.text, result.symbology, result.aim_id) == ("https://example.com/x", "QRCode", "]Q1")


def test_aim_identifier_comes_after_the_prefix() -> None:
    [result] = Framer(FramingConfig(prefix=b"@")).feed(b"@]C0286543210987654321\r", 0.0)
    assert isinstance(result, Code)
    assert (result.text, result.symbology) == ("286543210987654321", "Code128")


def test_aim_stripping_can_be_turned_off() -> None:
    assert codes(Framer(FramingConfig(aim_ids=False)).feed(b"]Q1abc\r", 0.0)) == ["]Q1abc"]


def test_over_long_line_is_rejected_once_and_the_next_code_is_clean() -> None:
    framer = Framer(FramingConfig(max_length=32))
    results = framer.feed(b"9" * 20, 0.0) + framer.feed(b"9" * 20, 0.0) + framer.feed(b"9" * 40, 0.0)
    results += framer.feed(b"\rGOOD\r", 0.0)
    assert rejections(results) == ["code longer than 32 bytes"]
    assert codes(results) == ["GOOD"]


def test_over_long_line_in_one_read_is_rejected() -> None:
    results = Framer(FramingConfig(max_length=8)).feed(b"123456789\rOK\r", 0.0)
    assert rejections(results) == ["code longer than 8 bytes"]
    assert codes(results) == ["OK"]


@pytest.mark.parametrize(
    "line",
    [b"\xff\xfe\x00\x01binary", b"28000\x0000001", b"abc\x1bdef", b"tab\there", b"\xc2\x85c1-control"],
)
def test_garbage_is_rejected_never_passed_on(line: bytes) -> None:
    results = Framer().feed(line + b"\r", 0.0)
    assert codes(results) == []
    assert len(rejections(results)) == 1


def test_rejections_do_not_repeat_what_was_read() -> None:
    secret = b"286543210987654321"
    for stream in (secret + b"\x00\r", secret + b"\xff\r", secret * 40 + b"\r"):
        [rejected] = Framer().feed(stream, 0.0)
        assert isinstance(rejected, Rejected)
        assert "6543210987" not in rejected.reason


def test_code_repr_hides_the_code() -> None:
    result = parse_code(b"286543210987654321", FramingConfig())
    assert "6543210987" not in repr(result)


def test_non_ascii_utf8_text_is_a_code() -> None:
    assert codes(Framer().feed("会员 123\r".encode(), 0.0)) == ["会员 123"]


def test_empty_lines_are_ignored_and_blank_codes_rejected() -> None:
    framer = Framer()
    assert framer.feed(b"\r\r", 0.0) == []
    assert rejections(framer.feed(b"   \r", 0.0)) == ["empty code"]


def test_arbitrary_bytes_never_raise() -> None:
    import random

    rng = random.Random(4)
    for terminator in Terminator:
        framer = Framer(FramingConfig(terminator=terminator, max_length=64))
        now = 0.0
        for _ in range(500):
            now += rng.random() / 10
            chunk = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
            for result in framer.feed(chunk, now) + framer.tick(now):
                if isinstance(result, Code):
                    assert not any(unicodedata.category(c) == "Cc" for c in result.text)
                    assert 0 < len(result.text.encode()) <= 64


printable_codes = st.lists(st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=40), max_size=8)


@given(codes_sent=printable_codes, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
       terminator=st.sampled_from([Terminator.CR, Terminator.LF, Terminator.CRLF]))  # fmt: skip
def test_how_reads_split_the_stream_never_changes_the_codes(
    codes_sent: list[str], cuts: list[int], terminator: Terminator
) -> None:
    stream = b"".join(code.encode() + terminator.value for code in codes_sent)
    framer = Framer(FramingConfig(terminator=terminator, aim_ids=False, max_length=1000))
    results: list[Code | Rejected] = []
    bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    for start, end in itertools.pairwise(bounds):
        results += framer.feed(stream[start:end], now=0.0)
    assert codes(results) == codes_sent
