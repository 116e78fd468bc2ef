"""Keyboard-wedge scanners: evdev key events -> text, without X11 (sans-I/O).

A keyboard-wedge scanner "types" its code as USB HID key presses and ends it with Enter. We read
the raw Linux key codes (linux/input-event-codes.h) and map them with our own US-layout table, so
the result does not depend on any X server or on the keyboard layout the store PC is set to
(scanners are programmed for a US layout by default).

Anything we cannot map (a key with Ctrl/Alt/Meta held, function keys...) becomes U+001A
SUBSTITUTE, which the framer rejects as a control character: a code with a hole in it is garbage,
not a shorter code.
"""

from __future__ import annotations

import dataclasses

from drivers.scanners.framing import Framer, FrameResult, FramingConfig, Terminator, with_gap_default

# A keyboard-wedge scanner types a code in one go, each character a press and a release report
# (plus Shift) at the USB keyboard polling rate (up to 10 ms per report), slower with a
# "keystroke delay" set in the scanner (typically 20-40 ms). 200 ms between two characters is
# beyond that, and under the fastest re-scan a cashier can make: the line was cut short.
KEYSTROKE_GAP = 0.2

EV_KEY = 0x01
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2

KEY_ENTER, KEY_KPENTER = 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
KEY_CAPSLOCK = 58
# Ctrl, Alt, Meta (left and right): with one held, a key is a shortcut, not a character.
CHORD_MODIFIERS = frozenset({29, 97, 56, 100, 125, 126})
# Keys that change no text by themselves.
IGNORED_KEYS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_CAPSLOCK, 69, 70})  # + NumLock, ScrollLock

SUBSTITUTE = "\x1a"

# key code -> (unshifted, shifted), US layout.
US_LAYOUT: dict[int, tuple[str, str]] = {
    2: ("1", "!"), 3: ("2", "@"), 4: ("3", "#"), 5: ("4", "$"), 6: ("5", "%"),
    7: ("6", "^"), 8: ("7", "&"), 9: ("8", "*"), 10: ("9", "("), 11: ("0", ")"),
    12: ("-", "_"), 13: ("=", "+"), 15: ("\t", "\t"),
    16: ("q", "Q"), 17: ("w", "W"), 18: ("e", "E"), 19: ("r", "R"), 20: ("t", "T"),
    21: ("y", "Y"), 22: ("u", "U"), 23: ("i", "I"), 24: ("o", "O"), 25: ("p", "P"),
    26: ("[", "{"), 27: ("]", "}"),
    30: ("a", "A"), 31: ("s", "S"), 32: ("d", "D"), 33: ("f", "F"), 34: ("g", "G"),
    35: ("h", "H"), 36: ("j", "J"), 37: ("k", "K"), 38: ("l", "L"),
    39: (";", ":"), 40: ("'", '"'), 41: ("`", "~"), 43: ("\\", "|"),
    44: ("z", "Z"), 45: ("x", "X"), 46: ("c", "C"), 47: ("v", "V"), 48: ("b", "B"),
    49: ("n", "N"), 50: ("m", "M"), 51: (",", "<"), 52: (".", ">"), 53: ("/", "?"),
    57: (" ", " "),
    # Numeric keypad: many scanners send digits from it. Shift does not change these.
    55: ("*", "*"), 71: ("7", "7"), 72: ("8", "8"), 73: ("9", "9"), 74: ("-", "-"),
    75: ("4", "4"), 76: ("5", "5"), 77: ("6", "6"), 78: ("+", "+"), 79: ("1", "1"),
    80: ("2", "2"), 81: ("3", "3"), 82: ("0", "0"), 83: (".", "."), 98: ("/", "/"),
    117: ("=", "="),
}  # fmt: skip


def key_to_text(code: int, *, shift: bool, caps_lock: bool = False) -> str | None:
    """The character a key press types on a US layout, or None if it types none."""
    pair = US_LAYOUT.get(code)
    if pair is None:
        return None
    plain, shifted = pair
    if caps_lock and plain.isalpha():
        shift = not shift  # Caps Lock inverts Shift for letters only
    return shifted if shift else plain


class HidDecoder:
    """Key events in, codes out. Enter ends a code; the framer does the rest (prefix, AIM, checks)."""

    def __init__(self, config: FramingConfig | None = None) -> None:
        base = with_gap_default(config, KEYSTROKE_GAP)
        self._framer = Framer(dataclasses.replace(base, terminator=Terminator.LF))
        self._shift_keys: set[int] = set()
        self._chords: set[int] = set()
        self._caps_lock = False

    @property
    def fragments_dropped(self) -> int:
        return self._framer.fragments_dropped

    def feed(self, event_type: int, code: int, value: int, now: float,
             arrived_after: float | None = None) -> list[FrameResult]:  # fmt: skip
        """One evdev event (type, code, value). Non-key events (EV_SYN, EV_MSC) are ignored.
        `now` and `arrived_after` as in `Framer.feed`."""
        if event_type != EV_KEY:
            return []
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            _track(self._shift_keys, code, value)
            return []
        if code in CHORD_MODIFIERS:
            _track(self._chords, code, value)
            return []
        if value != KEY_DOWN:  # releases, and auto-repeat (a scanner never holds a key)
            return []
        if code == KEY_CAPSLOCK:
            self._caps_lock = not self._caps_lock
            return []
        if code in IGNORED_KEYS:
            return []
        if code in (KEY_ENTER, KEY_KPENTER):
            return self._framer.feed(b"\n", now, arrived_after)
        text = None if self._chords else key_to_text(code, shift=bool(self._shift_keys), caps_lock=self._caps_lock)
        return self._framer.feed((text or SUBSTITUTE).encode(), now, arrived_after)

    def tick(self, now: float) -> list[FrameResult]:
        return self._framer.tick(now)

    def deadline(self) -> float | None:
        return self._framer.deadline()


def _track(held: set[int], code: int, value: int) -> None:
    if value == KEY_UP:
        held.discard(code)
    else:
        held.add(code)
