"""GS k 1-D symbologies encoded as a printer encodes them (pure, table-driven).

Each encoder turns the data bytes a host sent into a `Linear` symbol: a list of bar/space
elements, each `n` (narrow, one module), `w` (wide, for the two-width codes) or a module count,
plus the human-readable line. The printer's own conventions (Epson's GS k), not a library's:

- UPC/EAN: the check digit is computed when left out; when sent it is printed as sent (Epson:
  "regarded as a check digit, but not proved"), and a wrong one is reported.
- UPC-E takes 6, 7, 8 digits (compressed form) or 11, 12 (UPC-A form, compressed here).
- CODE39: no check character; the `*` start/stop are added when the data has none.
- ITF: an odd digit count gets a leading 0. CODABAR: start/stop A-D added when missing.
- CODE93: full ASCII through the shift characters; the printer adds both check characters.
- CODE128: `{A {B {C` select a code set, `{S` shifts one character, `{1..{4` are FNC1-4, `{{`
  is `{`; in code set C each byte is a value 0-99 (binary, not ASCII digits).
- GS1-128: FNC1 first, code sets chosen here; `(` `)` only show in the human-readable line.

Data a printer would refuse raises `SymbolError` with the reason; nothing is drawn then.
"""

from __future__ import annotations

from dataclasses import dataclass

from barcode.charsets.code128 import CODES as CODE128_PATTERNS  # type: ignore[import-untyped]


class SymbolError(ValueError):
    """The printer would not print this data (the reason is the message)."""


@dataclass(frozen=True)
class Linear:
    """Elements alternate bar, space, bar... starting with a bar.

    Each element is a module count (int) or "n"/"w" (narrow/wide of a two-width code).
    """

    elements: list[int | str]
    hri: str
    notes: tuple[str, ...] = ()


# -- UPC / EAN ----------------------------------------------------------------------------------

_EAN_L = ("0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011")
_EAN_R = tuple("".join("1" if bit == "0" else "0" for bit in code) for code in _EAN_L)
_EAN_G = tuple(code[::-1] for code in _EAN_R)
_EAN13_PARITY = ("LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL")
_UPCE_PARITY = ("GGGLLL", "GGLGLL", "GGLLGL", "GGLLLG", "GLGGLL", "GLLGGL", "GLLLGG", "GLGLGL", "GLGLLG", "GLLGLG")


def _modules(bits: str) -> list[int | str]:
    """Run lengths of a module string that starts with a bar."""
    runs: list[int | str] = []
    previous, count = "1", 0
    for bit in bits:
        if bit == previous:
            count += 1
        else:
            runs.append(count)
            previous, count = bit, 1
    runs.append(count)
    return runs


def gtin_check(digits: str) -> str:
    """The GS1 mod-10 check digit of `digits` (weights 3, 1, ... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _digits(text: str, lengths: tuple[int, ...], name: str) -> str:
    if not text.isdigit() or not text.isascii() or len(text) not in lengths:
        raise SymbolError(f"{name} needs {' or '.join(map(str, lengths))} digits")
    return text


def _wrong_check(name: str, given: str, expected: str) -> str:
    return f"{name} check digit {given} is wrong (expected {expected}): printed as sent, scanners reject it"


def _with_check(text: str, body_length: int, name: str) -> tuple[str, tuple[str, ...]]:
    _digits(text, (body_length, body_length + 1), name)
    expected = gtin_check(text[:body_length])
    if len(text) == body_length:
        return text + expected, ()
    if text[-1] != expected:
        return text, (_wrong_check(name, text[-1], expected),)
    return text, ()


def _ean13_bits(code: str) -> str:
    parity = _EAN13_PARITY[int(code[0])]
    left = "".join((_EAN_L if p == "L" else _EAN_G)[int(d)] for p, d in zip(parity, code[1:7], strict=True))
    right = "".join(_EAN_R[int(d)] for d in code[7:])
    return "101" + left + "01010" + right + "101"


def encode_ean13(text: str) -> Linear:
    code, notes = _with_check(text, 12, "EAN13")
    return Linear(_modules(_ean13_bits(code)), code, notes)


def encode_upca(text: str) -> Linear:
    code, notes = _with_check(text, 11, "UPC-A")
    return Linear(_modules(_ean13_bits("0" + code)), code, notes)


def encode_ean8(text: str) -> Linear:
    code, notes = _with_check(text, 7, "EAN8")
    left, right = "".join(_EAN_L[int(d)] for d in code[:4]), "".join(_EAN_R[int(d)] for d in code[4:])
    bits = "101" + left + "01010" + right + "101"
    return Linear(_modules(bits), code, notes)


def upce_to_upca(six: str) -> str:
    """The 10 digits (manufacturer + product) a 6-digit UPC-E body stands for."""
    last = six[5]
    if last in "012":
        return six[:2] + last + "00" + "00" + six[2:5]
    if last == "3":
        return six[:3] + "00" + "000" + six[3:5]
    if last == "4":
        return six[:4] + "0" + "0000" + six[4]
    return six[:5] + "0000" + last


def _upca_to_upce(body: str) -> str:
    """Compress the 10 digits after the number system (UPC-A form), or raise."""
    maker, product = body[:5], body[5:]
    if maker[2:] in ("000", "100", "200") and product[:2] == "00":
        six = maker[:2] + product[2:] + maker[2]
    elif maker[3:] == "00" and product[:3] == "000":
        six = maker[:3] + product[3:] + "3"
    elif maker[4] == "0" and product[:4] == "0000":
        six = maker[:4] + product[4] + "4"
    elif product[:4] == "0000" and product[4] in "56789":
        six = maker + product[4]
    else:
        raise SymbolError("UPC-E: this UPC-A number cannot be zero-suppressed")
    return six


def encode_upce(text: str) -> Linear:
    digits = _digits(text, (6, 7, 8, 11, 12), "UPC-E")
    if len(digits) == 6:
        digits = "0" + digits
    if digits[0] not in "01":
        raise SymbolError("UPC-E number system must be 0 or 1")
    if len(digits) in (11, 12):
        six = _upca_to_upce(digits[1:11])
        given_check = digits[11] if len(digits) == 12 else None
    else:
        six = digits[1:7]
        given_check = digits[7] if len(digits) == 8 else None
    expected = gtin_check(digits[0] + upce_to_upca(six))
    notes: tuple[str, ...] = ()
    check = expected
    if given_check is not None and given_check != expected:
        check = given_check
        notes = (_wrong_check("UPC-E", given_check, expected),)
    parity = _UPCE_PARITY[int(check)]
    if digits[0] == "1":
        parity = parity.translate(str.maketrans("LG", "GL"))
    body = "".join((_EAN_L if p == "L" else _EAN_G)[int(d)] for p, d in zip(parity, six, strict=True))
    return Linear(_modules("101" + body + "010101"), digits[0] + six + check, notes)


# -- two-width codes: CODE39, ITF, CODABAR -------------------------------------------------------

_CODE39_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%*"
_CODE39 = (
    0x034, 0x121, 0x061, 0x160, 0x031, 0x130, 0x070, 0x025, 0x124, 0x064,
    0x109, 0x049, 0x148, 0x019, 0x118, 0x058, 0x00D, 0x10C, 0x04C, 0x01C,
    0x103, 0x043, 0x142, 0x013, 0x112, 0x052, 0x007, 0x106, 0x046, 0x016,
    0x181, 0x0C1, 0x1C0, 0x091, 0x190, 0x0D0, 0x085, 0x184, 0x0C4, 0x0A8,
    0x0A2, 0x08A, 0x02A, 0x094,
)  # fmt: skip
_ITF = ("nnwwn", "wnnnw", "nwnnw", "wwnnn", "nnwnw", "wnwnn", "nwwnn", "nnnww", "wnnwn", "nwnwn")
_CODABAR_CHARS = "0123456789-$:/.+ABCD"
_CODABAR = (
    0x003, 0x006, 0x009, 0x060, 0x012, 0x042, 0x021, 0x024, 0x030, 0x048,
    0x00C, 0x018, 0x045, 0x051, 0x054, 0x015, 0x01A, 0x029, 0x00B, 0x00E,
)  # fmt: skip


def _wide_narrow(value: int, count: int) -> list[int | str]:
    return ["w" if value >> (count - 1 - i) & 1 else "n" for i in range(count)]


def encode_code39(text: str) -> Linear:
    body = text[1:] if text.startswith("*") else text
    body = body[:-1] if body.endswith("*") else body
    bad = sorted({ch for ch in body if ch not in _CODE39_CHARS[:-1]})
    if not body or bad:
        raise SymbolError(f"CODE39 cannot encode {''.join(bad)!r}" if bad else "CODE39 needs data")
    elements: list[int | str] = []
    for ch in "*" + body + "*":
        elements += [*_wide_narrow(_CODE39[_CODE39_CHARS.index(ch)], 9), "n"]
    return Linear(elements[:-1], "*" + body + "*")


def encode_itf(text: str) -> Linear:
    if not text or not text.isdigit() or not text.isascii():
        raise SymbolError("ITF needs digits")
    notes: tuple[str, ...] = ()
    if len(text) % 2:
        text = "0" + text
        notes = ("ITF: odd digit count, a leading 0 added",)
    elements: list[int | str] = ["n", "n", "n", "n"]
    for first, second in zip(text[::2], text[1::2], strict=True):
        for bar, space in zip(_ITF[int(first)], _ITF[int(second)], strict=True):
            elements += [bar, space]
    return Linear([*elements, "w", "n", "n"], text, notes)


def encode_codabar(text: str) -> Linear:
    data = text.upper() if len(text) < 2 else text[0].upper() + text[1:-1] + text[-1].upper()
    if not data or data[0] not in "ABCD":
        data = "A" + data
    if len(data) < 2 or data[-1] not in "ABCD":
        data = data + data[0]
    bad = sorted({ch for ch in data[1:-1] if ch not in _CODABAR_CHARS[:16]})
    if bad or len(data) < 3:
        raise SymbolError(f"CODABAR cannot encode {''.join(bad)!r}" if bad else "CODABAR needs data")
    elements: list[int | str] = []
    for ch in data:
        elements += [*_wide_narrow(_CODABAR[_CODABAR_CHARS.index(ch)], 7), "n"]
    return Linear(elements[:-1], data)


# -- CODE93 ------------------------------------------------------------------------------------

_CODE93_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"  # then the shifts ($) (%) (/) (+), then *
_CODE93 = (
    0x114, 0x148, 0x144, 0x142, 0x128, 0x124, 0x122, 0x150, 0x112, 0x10A,
    0x1A8, 0x1A4, 0x1A2, 0x194, 0x192, 0x18A, 0x168, 0x164, 0x162, 0x134,
    0x11A, 0x158, 0x14C, 0x146, 0x12C, 0x116, 0x1B4, 0x1B2, 0x1AC, 0x1A6,
    0x196, 0x19A, 0x16C, 0x166, 0x136, 0x13A, 0x12E, 0x1D4, 0x1D2, 0x1CA,
    0x16E, 0x176, 0x1AE, 0x126, 0x1DA, 0x1D6, 0x132, 0x15E,
)  # fmt: skip
_SHIFT_DOLLAR, _SHIFT_PERCENT, _SHIFT_SLASH, _SHIFT_PLUS, _CODE93_STAR = 43, 44, 45, 46, 47


def _full_ascii(char: int) -> tuple[int, ...]:
    """Code 93 values of one ASCII character (native, or a shift character and a letter)."""
    letter = _CODE93_CHARS.index
    ch = chr(char)
    if ch in _CODE93_CHARS:
        return (letter(ch),)
    if char == 0:
        return (_SHIFT_PERCENT, letter("U"))
    if char <= 26:
        return (_SHIFT_DOLLAR, letter(chr(char + 64)))
    if char <= 31:
        return (_SHIFT_PERCENT, letter("ABCDE"[char - 27]))
    if ch in "!\"#&'()*,":
        return (_SHIFT_SLASH, letter("ABCFGHIJL"["!\"#&'()*,".index(ch)]))
    if ch == ":":
        return (_SHIFT_SLASH, letter("Z"))
    if ch in ";<=>?":
        return (_SHIFT_PERCENT, letter("FGHIJ"[";<=>?".index(ch)]))
    if ch == "@":
        return (_SHIFT_PERCENT, letter("V"))
    if ch in "[\\]^_":
        return (_SHIFT_PERCENT, letter("KLMNO"["[\\]^_".index(ch)]))
    if ch == "`":
        return (_SHIFT_PERCENT, letter("W"))
    if "a" <= ch <= "z":
        return (_SHIFT_PLUS, letter(ch.upper()))
    return (_SHIFT_PERCENT, letter("PQRST"["{|}~\x7f".index(ch)]))


def _code93_check(values: list[int], max_weight: int) -> int:
    return sum(v * ((i % max_weight) + 1) for i, v in enumerate(reversed(values))) % 47


def encode_code93(data: bytes) -> Linear:
    if not data or any(byte > 0x7F for byte in data):
        raise SymbolError("CODE93 encodes ASCII 0-127 only" if data else "CODE93 needs data")
    values = [value for byte in data for value in _full_ascii(byte)]
    values.append(_code93_check(values, 20))
    values.append(_code93_check(values, 15))
    bits = "".join(format(_CODE93[v], "09b") for v in [_CODE93_STAR, *values, _CODE93_STAR]) + "1"
    return Linear(_modules(bits), _printable(data))


# -- CODE128 and GS1-128 -----------------------------------------------------------------------

_START = {"A": 103, "B": 104, "C": 105}
_SWITCH = {"A": 101, "B": 100, "C": 99}
_FNC1, _FNC2, _FNC3, _SHIFT = 102, 97, 96, 98
_FNC4 = {"A": 101, "B": 100}


def _printable(data: bytes | list[int]) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else " " for b in data)


def _value_in(code_set: str, byte: int) -> int:
    if code_set == "A":
        if byte < 0x20:
            return byte + 64
        if byte < 0x60:
            return byte - 32
    elif 0x20 <= byte < 0x80:
        return byte - 32
    raise SymbolError(f"CODE128 code set {code_set} cannot encode byte {byte:#04x}")


def _code128_symbol(values: list[int], hri: str) -> Linear:
    check = (values[0] + sum(i * v for i, v in enumerate(values[1:], start=1))) % 103
    bits = "".join(CODE128_PATTERNS[v] for v in [*values, check]) + "1100011101011"
    return Linear(_modules(bits), hri)


def encode_code128(data: bytes) -> Linear:
    if len(data) < 2 or data[0] != 0x7B or chr(data[1]) not in "ABC":
        raise SymbolError("CODE128 data must start with a code set ({A, {B or {C)")
    code_set = chr(data[1])
    values, hri = [_START[code_set]], []
    i, shifted = 2, False
    while i < len(data):
        byte = data[i]
        if byte == 0x7B:  # "{": a control pair
            if i + 1 >= len(data):
                raise SymbolError("CODE128 data ends inside a { code")
            control = chr(data[i + 1])
            i += 2
            if control in "ABC":
                if control != code_set:
                    values.append(_SWITCH[control])
                    code_set = control
            elif control == "S" and code_set in "AB" and not shifted:
                values.append(_SHIFT)
                shifted = True
                continue
            elif control == "1":
                values.append(_FNC1)
            elif control in "23" and code_set in "AB":
                values.append(_FNC2 if control == "2" else _FNC3)
            elif control == "4" and code_set in "AB":
                values.append(_FNC4[code_set])
            elif control == "{" and code_set == "B":
                values.append(_value_in("B", 0x7B))
                hri.append(0x7B)
            else:
                raise SymbolError(f"CODE128: {{{control} is not allowed in code set {code_set}")
        elif code_set == "C" and not shifted:
            if byte > 99:
                raise SymbolError(f"CODE128 code set C takes values 0-99, got {byte}")
            values.append(byte)
            hri += list(f"{byte:02d}".encode())
            i += 1
        else:
            current = ("B" if code_set == "A" else "A") if shifted else code_set
            values.append(_value_in(current, byte))
            hri.append(byte)
            i += 1
        shifted = False
    if len(values) < 2:
        raise SymbolError("CODE128 needs data after the code set")
    return _code128_symbol(values, _printable(hri))


def encode_gs1_128(data: bytes) -> Linear:
    """FNC1 first, then digits in code set C where they pair up, the rest in code set B."""
    text = data.decode("ascii", errors="replace")
    if len(text) >= 2 and text[0] == "{" and text[1] in "ABC":
        text = text[2:]  # a code set selector (python-escpos sends one): the printer picks its own
    hri = text.replace("{1", "").replace("{{", "{")
    chars: list[str] = []  # "F" stands for FNC1
    i = 0
    while i < len(text):
        if text.startswith("{1", i):
            chars.append("F")
            i += 2
        elif text.startswith("{{", i):
            chars.append("{")
            i += 2
        elif text[i] in "()":
            i += 1  # application identifier brackets: human-readable line only
        else:
            chars.append(text[i])
            i += 1
    if not chars:
        raise SymbolError("GS1-128 needs data")
    values, code_set = [_START["C"], _FNC1], "C"
    i = 0
    while i < len(chars):
        run = 0
        while i + run < len(chars) and chars[i + run].isdigit():
            run += 1
        if run >= 2 and (code_set == "C" or run >= 4):
            if code_set != "C":
                values.append(_SWITCH["C"])
                code_set = "C"
            for j in range(i, i + run - run % 2, 2):
                values.append(int(chars[j] + chars[j + 1]))
            i += run - run % 2
            continue
        if chars[i] == "F":
            values.append(_FNC1)
        else:
            if code_set != "B":
                values.append(_SWITCH["B"])
                code_set = "B"
            values.append(_value_in("B", ord(chars[i])))
        i += 1
    return _code128_symbol(values, hri)


def _ascii(data: bytes, name: str) -> str:
    if not data.isascii():
        raise SymbolError(f"{name} data must be ASCII")
    return data.decode("ascii")


def encode(system: int, data: bytes) -> Linear:
    """The symbol a printer draws for GS k `system` (0-6 or 65-74) and `data`."""
    kind = system - 65 if system >= 65 else system
    if kind == 0:
        return encode_upca(_ascii(data, "UPC-A"))
    if kind == 1:
        return encode_upce(_ascii(data, "UPC-E"))
    if kind == 2:
        return encode_ean13(_ascii(data, "EAN13"))
    if kind == 3:
        return encode_ean8(_ascii(data, "EAN8"))
    if kind == 4:
        return encode_code39(_ascii(data, "CODE39"))
    if kind == 5:
        return encode_itf(_ascii(data, "ITF"))
    if kind == 6:
        return encode_codabar(_ascii(data, "CODABAR"))
    if system == 72:
        return encode_code93(data)
    if system == 73:
        return encode_code128(data)
    if system == 74:
        return encode_gs1_128(data)
    raise SymbolError(f"GS k system {system} is not a linear symbology this printer knows")
