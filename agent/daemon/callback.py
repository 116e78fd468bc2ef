"""The open-card callback endpoint: Alipay sends the customer's browser here (GET with the parameters)
after the form, in stores where the merchant's callback URL is forwarded to the till.

A deliberately tiny HTTP/1.1 server: one GET line and headers (8 KiB at most), an answer, close. It
validates, queues the card opening and answers at once; the card opens in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from agent.members.open_card import CallbackError
from offline_queue import OutboxError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192
READ_TIMEOUT_SECONDS = 5.0

Accept = Callable[[dict[str, str]], object]


def _page(status: str, title: str, text: str) -> bytes:
    title, text = html.escape(title), html.escape(text)
    body = ("<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{title}</title><h1>{title}</h1><p>{text}</p>").encode()  # fmt: skip
    head = (f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n").encode()  # fmt: skip
    return head + body


def parse_request(head: bytes, path: str) -> dict[str, str]:
    """The callback parameters of a GET request head; raises CallbackError (400) or LookupError (404)."""
    try:
        line = head.split(b"\r\n", 1)[0].decode("ascii")
        method, target, _ = line.split(" ", 2)
    except (UnicodeDecodeError, ValueError):
        raise CallbackError("not an HTTP request") from None
    if method != "GET":
        raise CallbackError("only GET is accepted")
    parts = urlsplit(target)
    if parts.path != path:
        raise LookupError(parts.path)
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, max_num_fields=20):
        if key in params:
            raise CallbackError(f"{key[:30]} is given twice")
        params[key] = value
    return params


class CallbackServer:
    def __init__(self, host: str, port: int, path: str, accept: Accept) -> None:
        self.host, self.port, self.path = host, port, path
        self.accept = accept
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        if self._server is None or not self._server.sockets:
            return None
        name = self._server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_REQUEST_BYTES)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_SECONDS)
            writer.write(await self._answer(head))
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            writer.write(_page("400 Bad Request", "Bad request", "This is not a valid request."))
        finally:
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

    async def _answer(self, head: bytes) -> bytes:
        if len(head) > MAX_REQUEST_BYTES:
            return _page("431 Request Header Fields Too Large", "Bad request", "The request is too large.")
        try:
            params = parse_request(head, self.path)
            await asyncio.to_thread(self.accept, params)  # a durable enqueue waits for an fsync
        except LookupError:
            return _page("404 Not Found", "Not found", "Nothing here.")
        except CallbackError as exc:
            log.warning("open-card callback refused: %s", exc)
            return _page("400 Bad Request", "Card not opened", f"{exc}. Please scan the QR code again.")
        except OutboxError as exc:
            log.error("open-card callback could not be queued: %s", exc)
            return _page("503 Service Unavailable", "Please try again", "The till is busy; scan the QR code again.")
        return _page("200 OK", "Thank you", "Your membership card is being opened. It will appear in Alipay shortly.")
