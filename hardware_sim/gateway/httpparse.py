"""Request parameters from an HTTP request's pieces, pure: query string + form body or multipart.

Text parameters are merged into one map (body wins over query for the same name); multipart file
parts are kept apart, never signed. Percent-escapes are decoded to BYTES first, then every name and
value is decoded in the charset the request declares in its `charset` parameter (what Alipay signs
and answers in; UTF-8 without one). So a GBK request with Chinese text reads
as the client meant it, and its string to sign re-encodes to the very bytes the client signed."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import unquote_to_bytes

from .charsets import CHARSETS

MAX_BODY = 12 * 1024 * 1024  # a 5 MB image in multipart, with room to spare
DEFAULT_CHARSET = "utf-8"


class BadRequest(ValueError):
    """The parameters cannot be read. The gateway answers it as a 40002 `sub_code` envelope, addressed
    with `params`: whatever could be read (app_id, method and charset are ASCII, so usually those)."""

    def __init__(self, detail: str, *, sub_code: str = "isv.invalid-parameter", params: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.sub_code = sub_code
        self.params: dict[str, str] = params or {}


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    content: bytes


@dataclass
class ParsedRequest:
    params: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


def content_type_params(header: str) -> tuple[str, dict[str, str]]:
    """`('multipart/form-data', {'boundary': ...})` from a Content-Type header value."""
    message = Message()
    message["content-type"] = header
    params = {str(k).lower(): str(v) for k, v in message.get_params(failobj=[])[1:]}
    return message.get_content_type(), params


@dataclass(frozen=True)
class _RawParam:
    name: bytes
    value: bytes


def parse_request(query: str, content_type: str, body: bytes) -> ParsedRequest:
    """`query` is the raw query string as the HTTP server read it (latin-1: one char per byte)."""
    raw = _raw_pairs(query.encode("latin-1", "replace"))
    files: dict[str, UploadedFile] = {}
    mime, ct_params = content_type_params(content_type or "application/x-www-form-urlencoded")
    try:
        if body:
            raw += _raw_body(mime, ct_params, body, files)
    except BadRequest as exc:
        exc.params = _readable(raw, _declared_charset(raw))
        raise
    charset = _declared_charset(raw)
    parsed = ParsedRequest(files=files)
    unreadable: list[str] = []
    for param in raw:
        try:
            name = param.name.decode(charset)
            parsed.params[name] = param.value.decode(charset)
        except UnicodeDecodeError:
            unreadable.append(param.name.decode("ascii", "replace"))
    if unreadable:
        raise BadRequest(
            f"参数{','.join(unreadable)}不是有效的{charset}编码", sub_code="isv.invalid-charset",
            params=_readable(raw, charset),
        )  # fmt: skip
    return parsed


def _raw_pairs(data: bytes) -> list[_RawParam]:
    """`a=1&b=%E4%B8%AD` -> raw byte pairs (`+` is a space, as in every form encoder)."""
    pairs = []
    for field_ in data.split(b"&"):
        if not field_:
            continue
        name, _, value = field_.partition(b"=")
        pairs.append(_RawParam(unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def _raw_body(mime: str, ct_params: dict[str, str], body: bytes, files: dict[str, UploadedFile]) -> list[_RawParam]:
    if mime == "multipart/form-data":
        boundary = ct_params.get("boundary")
        if not boundary:
            raise BadRequest("multipart body without a boundary")
        texts = []
        for part in parse_multipart(body, boundary.encode("latin-1", "replace")):
            if part.filename is None:
                texts.append(_RawParam(part.name.encode("utf-8"), part.content))
            else:
                files[part.name] = UploadedFile(part.filename, part.content_type, part.content)
        return texts
    if mime in ("application/x-www-form-urlencoded", "text/plain", ""):
        return _raw_pairs(body)
    raise BadRequest(f"不支持的Content-Type: {mime}")


def _declared_charset(raw: list[_RawParam]) -> str:
    """The `charset` parameter alone decides, as it alone decides how the signature is checked and
    the reply encoded (Content-Type charsets are ignored). Missing or unsupported: UTF-8 (an
    unsupported one is then answered 40002 isv.invalid-charset by the gateway)."""
    declared = [p.value.decode("ascii", "replace").strip().lower() for p in raw if p.name == b"charset"]
    return declared[-1] if declared and declared[-1] in CHARSETS else DEFAULT_CHARSET


def _readable(raw: list[_RawParam], charset: str) -> dict[str, str]:
    """The parameters that do decode, to address the error reply (app_id, method, charset, sign_type...)."""
    params: dict[str, str] = {}
    for param in raw:
        try:
            params[param.name.decode(charset)] = param.value.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    return params


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    charset: str | None
    content: bytes


def parse_multipart(body: bytes, boundary: bytes) -> list[Part]:
    """RFC 7578 parts between `--boundary` lines; raises BadRequest on a malformed body."""
    delimiter = b"--" + boundary
    if not body.startswith(delimiter) and delimiter not in body:
        raise BadRequest("multipart boundary not found")
    parts: list[Part] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, sep, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise BadRequest("multipart part without a header block")
        parts.append(_part(head, content.removesuffix(b"\r\n")))
    return parts


def _part(head: bytes, content: bytes) -> Part:
    message = Message()
    for line in head.decode("utf-8", "replace").split("\r\n"):
        header, sep, value = line.partition(":")
        if sep:
            message[header.strip()] = value.strip()
    name = message.get_param("name", header="content-disposition")
    if not isinstance(name, str):
        raise BadRequest("multipart part without a name")
    filename = message.get_param("filename", header="content-disposition")
    return Part(
        name=name,
        filename=filename if isinstance(filename, str) else None,
        content_type=message.get_content_type(),
        charset=message.get_content_charset(),
        content=content,
    )
