"""Request parameters from an HTTP request's pieces, pure: query string + form body or multipart.

Text parameters are merged into one map (body wins over query for the same name); multipart file
parts are kept apart, never signed."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import parse_qsl

MAX_BODY = 12 * 1024 * 1024  # a 5 MB image in multipart, with room to spare


class BadRequest(ValueError):
    """The HTTP request itself cannot be read (not an OpenAPI-level error)."""


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


def parse_request(query: str, content_type: str, body: bytes) -> ParsedRequest:
    parsed = ParsedRequest()
    parsed.params.update(_parse_form(query))
    if not body:
        return parsed
    mime, ct_params = content_type_params(content_type or "application/x-www-form-urlencoded")
    charset = ct_params.get("charset", "utf-8")
    if mime == "multipart/form-data":
        boundary = ct_params.get("boundary")
        if not boundary:
            raise BadRequest("multipart body without a boundary")
        for part in parse_multipart(body, boundary.encode("latin-1")):
            if part.filename is None:
                parsed.params[part.name] = _decode(part.content, part.charset or charset)
            else:
                parsed.files[part.name] = UploadedFile(part.filename, part.content_type, part.content)
    elif mime in ("application/x-www-form-urlencoded", "text/plain", ""):
        parsed.params.update(_parse_form(_decode(body, charset)))
    else:
        raise BadRequest(f"unsupported content type {mime!r}")
    return parsed


def _parse_form(text: str) -> dict[str, str]:
    try:
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"unreadable form data: {exc}") from None


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not {charset}: {exc}") from None


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
