"""The charsets the gateway speaks (`charset` parameter: utf-8, gbk, gb2312) and how replies are encoded.

A reply is encoded in the request's charset and signed over those bytes. A character the charset
cannot encode (an emoji stored by a UTF-8 call, read back by a GBK one) is written as a JSON
`\\uXXXX` escape: the JSON still means the same text and the bytes stay signable. This only works
because such characters can only occur inside JSON strings, where the escape is legal."""

from __future__ import annotations

import codecs
from collections.abc import Mapping

CHARSETS = frozenset({"utf-8", "gbk", "gb2312"})
DEFAULT = "utf-8"
JSON_ESCAPE = "alipay-sim-json-escape"  # codec error handler name, for str.encode(charset, JSON_ESCAPE)


def reply_charset(params: Mapping[str, str]) -> str:
    """The charset of the reply: the request's when supported, else UTF-8 (e.g. for isv.invalid-charset)."""
    charset = params.get("charset", DEFAULT).lower()
    return charset if charset in CHARSETS else DEFAULT


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escaped = []
    for char in error.object[error.start : error.end]:
        encoded = char.encode("utf-16-be")  # a surrogate pair for characters beyond the BMP, as JSON wants
        escaped += [f"\\u{int.from_bytes(encoded[i : i + 2], 'big'):04x}" for i in range(0, len(encoded), 2)]
    return "".join(escaped), error.end


codecs.register_error(JSON_ESCAPE, _json_escape)
