"""Framing: scanner bytes -> codes or rejections, with time passed in."""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.scanners.framing import BYTE_STREAM_GAP, Code, Framer, FramingConfig, Rejected, Terminator, parse_code
from drivers.scanners.hid_keymap import KEYSTROKE_GAP, HidDecoder
from tests.drivers.scanners.test_hid_keymap import typed


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


# --- a pause inside a line: a read cut short -------------------------------------------------

def cut(**changes: object) -> FramingConfig:
    """CR-terminated framing that drops a line cut by a pause over 100 ms."""
    return FramingConfig(**{"terminator": Terminator.CR, "inter_char_gap": 0.1, **changes})  # type: ignore[arg-type]


def test_a_fragment_then_a_full_code_within_a_second_gives_the_code_alone() -> None:
    framer = Framer(cut())
    assert framer.feed(b"28654321", now=10.0) == []  # a bad read: no terminator
    results = framer.feed(b"286543210987654321\r", now=10.4)  # the cashier scans again
    assert codes(results) == ["286543210987654321"]  # never the 26-digit join
    [warning] = rejections(results)
    assert "fragment dropped" in warning and "28654321" not in warning
    assert framer.fragments_dropped == 1


def test_the_next_code_stands_alone_even_when_it_comes_in_pieces() -> None:
    framer = Framer(cut())
    framer.feed(b"2865", now=0.0)
    assert rejections(framer.feed(b"2865432109", now=0.5)) != []
    assert codes(framer.feed(b"87654321\r", now=0.52)) == ["286543210987654321"]


@pytest.mark.parametrize("pause", [0.0, 0.05, 0.09])
def test_pauses_up_to_the_gap_keep_a_code_whole(pause: float) -> None:
    framer = Framer(cut())
    results = []
    for i, chunk in enumerate((b"286543", b"210987", b"654321\r")):
        results += framer.feed(chunk, now=1.0 + i * pause)
    assert codes(results) == ["286543210987654321"] and rejections(results) == []


def test_a_late_read_does_not_cut_a_code_that_arrived_as_one_burst() -> None:
    framer = Framer(cut())
    framer.feed(b"286543", now=1.0)
    # The reader was busy for 0.5 s: the rest was already there right after the previous read.
    results = framer.feed(b"210987654321\r", now=1.5, arrived_after=1.0)
    assert codes(results) == ["286543210987654321"] and rejections(results) == []


def test_fragment_warnings_are_throttled_but_every_fragment_is_counted() -> None:
    framer = Framer(cut(fragment_warning_interval=60.0))
    warnings = []
    for i in range(5):
        framer.feed(b"2865", now=i * 1.0)
        results = framer.feed(b"286543210987654321\r", now=i * 1.0 + 0.5)
        assert codes(results) == ["286543210987654321"]
        warnings += rejections(results)
    assert len(warnings) == 1 and framer.fragments_dropped == 5
    framer.feed(b"2865", now=100.0)
    [later] = rejections(framer.feed(b"1\r", now=100.5))
    assert "5 since the last warning" in later and "6 in all" in later


def test_a_framer_without_a_gap_setting_uses_the_byte_stream_default() -> None:
    framer = Framer(FramingConfig(terminator=Terminator.CR))
    assert framer.config.inter_char_gap == BYTE_STREAM_GAP
    framer.feed(b"2865", now=0.0)
    results = framer.feed(b"286543210987654321\r", now=0.5)
    assert codes(results) == ["286543210987654321"] and len(rejections(results)) == 1


def test_key_events_have_their_own_default_gap() -> None:
    decoder = HidDecoder()
    fragment, code = typed("2865")[:-6], typed("286543210987654321")  # no Enter after the fragment
    for event in fragment:
        decoder.feed(*event, now=0.0)
    results = [r for event in code for r in decoder.feed(*event, now=KEYSTROKE_GAP / 2)]
    assert codes(results) == ["2865286543210987654321"]  # under the keystroke gap: one line, as typed
    decoder = HidDecoder()
    for event in fragment:
        decoder.feed(*event, now=0.0)
    results = [r for event in code for r in decoder.feed(*event, now=KEYSTROKE_GAP * 2)]
    assert codes(results) == ["286543210987654321"] and len(rejections(results)) == 1


def test_the_gap_does_not_apply_without_a_terminator() -> None:
    framer = Framer(FramingConfig(terminator=Terminator.NONE, idle_timeout=0.05, inter_char_gap=0.01))
    framer.feed(b"2865", now=0.0)
    assert framer.feed(b"4321", now=0.03) == []  # under idle_timeout: the same code
    assert codes(framer.tick(now=0.1)) == ["28654321"]


def test_the_tail_of_an_over_long_line_ends_at_a_pause() -> None:
    framer = Framer(cut(max_length=8))
    assert rejections(framer.feed(b"x" * 20, now=0.0)) == ["code longer than 8 bytes"]
    results = framer.feed(b"2865\r", now=0.5)  # a new scan, not the end of the long line
    assert codes(results) == ["2865"] and rejections(results) == []


def test_a_crlf_scanner_on_a_cr_port_leaves_no_incomplete_line_behind() -> None:
    framer = Framer(cut())
    assert codes(framer.feed(b"ABC\r\n", now=0.0)) == ["ABC"]
    assert framer.deadline() is None
    assert framer.tick(now=5.0) == []  # the stray LF was no start of a code
    assert rejections(framer.feed(b"DEF\r\n", now=6.0)) == []
