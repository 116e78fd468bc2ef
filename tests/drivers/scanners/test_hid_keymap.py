"""Keyboard-wedge decoding on recorded evdev key-event sequences, independent of X11."""

from __future__ import annotations

import evdev.ecodes as e
import pytest

from drivers.scanners.framing import Code, FramingConfig, Rejected
from drivers.scanners.hid_keymap import EV_KEY, US_LAYOUT, HidDecoder, key_to_text

EV_SYN, EV_MSC = e.EV_SYN, e.EV_MSC
Event = tuple[int, int, int]  # (type, code, value) as evdev delivers them


def press(key: int) -> list[Event]:
    """What the kernel reports for one key press: MSC_SCAN, key down, SYN, key up, SYN."""
    return [(EV_MSC, e.MSC_SCAN, 0x70000 + key), (EV_KEY, key, 1), (EV_SYN, 0, 0),
            (EV_MSC, e.MSC_SCAN, 0x70000 + key), (EV_KEY, key, 0), (EV_SYN, 0, 0)]  # fmt: skip


def shifted(key: int) -> list[Event]:
    return [(EV_KEY, e.KEY_LEFTSHIFT, 1), *press(key), (EV_KEY, e.KEY_LEFTSHIFT, 0)]


def typed(text: str) -> list[Event]:
    """Record what a US-layout scanner sends for `text` followed by Enter."""
    reverse: dict[str, tuple[int, bool]] = {}
    for code, (plain, shift) in sorted(US_LAYOUT.items(), reverse=True):  # main block wins over keypad
        reverse[shift] = (code, True)
        reverse[plain] = (code, False)
    events: list[Event] = []
    for ch in text:
        code, needs_shift = reverse[ch]
        events += shifted(code) if needs_shift else press(code)
    return events + press(e.KEY_ENTER)


def decode(events: list[Event], config: FramingConfig | None = None) -> list[Code | Rejected]:
    decoder = HidDecoder(config)
    results: list[Code | Rejected] = []
    for i, (etype, code, value) in enumerate(events):
        results += decoder.feed(etype, code, value, now=i * 0.001)
    return results


def test_our_key_codes_are_the_kernel_ones() -> None:
    assert (e.KEY_1, e.KEY_0, e.KEY_Q, e.KEY_A, e.KEY_Z, e.KEY_SLASH, e.KEY_SPACE) == (2, 11, 16, 30, 44, 53, 57)
    assert (e.KEY_KP0, e.KEY_KP7, e.KEY_KPSLASH, e.KEY_KPENTER) == (82, 71, 98, 96)


def test_digits_then_enter_make_a_payment_code() -> None:
    assert decode(typed("286543210987654321")) == [Code("286543210987654321")]


def test_shift_makes_capitals_and_symbols() -> None:
    url = "https://memberprod.alipay.com/A?b=C&d_e=F~|{}"
    assert decode(typed(url)) == [Code(url)]


def test_right_shift_works_like_left_shift() -> None:
    events = [(EV_KEY, e.KEY_RIGHTSHIFT, 1), *press(e.KEY_A), (EV_KEY, e.KEY_RIGHTSHIFT, 0), *press(e.KEY_A)]
    assert decode(events + press(e.KEY_ENTER)) == [Code("Aa")]


def test_caps_lock_inverts_letters_only() -> None:
    events = press(e.KEY_CAPSLOCK) + press(e.KEY_A) + press(e.KEY_1) + shifted(e.KEY_B) + press(e.KEY_ENTER)
    assert decode(events) == [Code("A1b")]


def test_keypad_digits_and_keypad_enter() -> None:
    events = press(e.KEY_KP2) + press(e.KEY_KP8) + press(e.KEY_KPDOT) + press(e.KEY_KPENTER)
    assert decode(events) == [Code("28.")]


def test_key_releases_and_autorepeat_type_nothing() -> None:
    events = [(EV_KEY, e.KEY_5, 1), (EV_KEY, e.KEY_5, 2), (EV_KEY, e.KEY_5, 2), (EV_KEY, e.KEY_5, 0)]
    assert decode(events + press(e.KEY_ENTER)) == [Code("5")]


def test_two_codes_in_a_row() -> None:
    assert decode(typed("VIP001") + typed("VIP002")) == [Code("VIP001"), Code("VIP002")]


def test_unmapped_key_makes_the_code_garbage_not_shorter() -> None:
    events = press(e.KEY_1) + press(e.KEY_F5) + press(e.KEY_2) + press(e.KEY_ENTER)
    [result] = decode(events)
    assert isinstance(result, Rejected)
    assert "U+001A" in result.reason


def test_ctrl_chords_are_not_characters() -> None:
    events = [(EV_KEY, e.KEY_LEFTCTRL, 1), *press(e.KEY_C), (EV_KEY, e.KEY_LEFTCTRL, 0), *press(e.KEY_ENTER)]
    assert all(isinstance(r, Rejected) for r in decode(events))


def test_aim_identifier_and_prefix_work_as_on_serial() -> None:
    assert decode(typed("#]Q1hello"), FramingConfig(prefix=b"#")) == [Code("hello", "QRCode", "]Q1")]


def test_over_long_input_is_rejected() -> None:
    results = decode(typed("7" * 40), FramingConfig(max_length=16))
    assert [type(r) for r in results] == [Rejected]


def test_a_code_without_enter_is_dropped_after_the_partial_timeout() -> None:
    decoder = HidDecoder(FramingConfig(partial_timeout=1.0))
    for etype, code, value in press(e.KEY_1):
        decoder.feed(etype, code, value, now=0.0)
    assert decoder.deadline() == pytest.approx(1.0)
    assert [type(r) for r in decoder.tick(now=1.0)] == [Rejected]


@pytest.mark.parametrize(
    ("code", "shift", "text"), [(e.KEY_1, False, "1"), (e.KEY_1, True, "!"), (e.KEY_F1, False, None)]
)
def test_key_to_text(code: int, shift: bool, text: str | None) -> None:
    assert key_to_text(code, shift=shift) == text
