"""ESC t code-page numbers -> Python codecs (Epson's numbering; clones differ, as the reference warns).

Bytes 0x00-0x7F are ASCII on every page; the page only decides 0x80-0xFF. Pages we have no codec
for fall back to CP437, the power-on default. Chinese printers decode double-byte text as
GB18030 (GB2312/GBK are subsets) while Chinese mode (FS &) is on, or always when the simulator is
started with `encoding="gb18030"`.
"""

from __future__ import annotations

DEFAULT_CODEC = "cp437"

EPSON_CODE_PAGES: dict[int, str] = {
    0: "cp437",
    1: "cp932",  # Katakana: the half-width katakana of Shift_JIS
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    13: "cp857",
    14: "cp737",
    15: "iso8859_7",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
    21: "cp874",  # Thai
    33: "cp775",
    34: "cp855",
    35: "cp861",
    36: "cp862",
    37: "cp864",
    38: "cp869",
    39: "iso8859_2",
    40: "iso8859_15",
    44: "cp1125",
    45: "cp1250",
    46: "cp1251",
    47: "cp1253",
    48: "cp1254",
    49: "cp1255",
    50: "cp1256",
    51: "cp1257",
    52: "cp1258",
}


def codec_for(page: int) -> str:
    return EPSON_CODE_PAGES.get(page, DEFAULT_CODEC)


def decode(data: bytes, page: int, chinese: bool) -> str:
    """Decode printable bytes the way the printer would; undecodable bytes become U+FFFD."""
    codec = "gb18030" if chinese else codec_for(page)
    if codec == "cp932":
        # Only the single-byte katakana half of Shift_JIS lives on this page.
        return "".join(chr(0xFF61 + b - 0xA1) if 0xA1 <= b <= 0xDF else chr(b) if b < 0x80 else "\ufffd" for b in data)
    return data.decode(codec, errors="replace")
