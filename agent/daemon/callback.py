"""The open-card callback endpoint: Alipay sends the customer's browser here (GET with the parameters)
after the form, in stores where the merchant's callback URL is forwarded to the till.

It rides on the status page's HTTP shell (h11) with tighter limits: an 8 KiB head that must arrive
within 5 s, no body to speak of, and the shell's connection caps. It validates, queues the card
opening and answers at once; the card opens in the background.

No Host check here (unlike the status page): the endpoint holds no secret a rebinding page could
read, anyone can send it a GET anyway, and behind a store's forwarder the Host is the merchant's
public name, which the agent does not know. See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from agent.members.open_card import CallbackError
from agent.web import HttpServer, Limits, Request, Response
from offline_queue import OutboxError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192
READ_TIMEOUT_SECONDS = 5.0
LIMITS = Limits(max_head_bytes=MAX_REQUEST_BYTES, max_body_bytes=1024, head_seconds=READ_TIMEOUT_SECONDS,
                body_seconds=READ_TIMEOUT_SECONDS, idle_seconds=READ_TIMEOUT_SECONDS)  # fmt: skip

Accept = Callable[[dict[str, str]], object]


def _page(status: int, title: str, text: str) -> Response:
    title, text = html.escape(title), html.escape(text)
    body = ("<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{title}</title><h1>{title}</h1><p>{text}</p>").encode()  # fmt: skip
    return Response(status, body, headers=[("Connection", "close")])


def callback_params(request: Request) -> dict[str, str]:
    """The callback parameters of a GET request; raises CallbackError (400)."""
    if request.method != "GET":
        raise CallbackError("only GET is accepted")
    params: dict[str, str] = {}
    query = urlsplit(request.target).query
    for key, value in parse_qsl(query, keep_blank_values=True, max_num_fields=20):
        if key in params:
            raise CallbackError(f"{key[:30]} is given twice")
        params[key] = value
    return params


class CallbackServer:
    def __init__(self, host: str, port: int, path: str, accept: Accept) -> None:
        self.path = path
        self.accept = accept
        self._http = HttpServer(host, port, self._answer, limits=LIMITS, name="open-card callback")

    @property
    def address(self) -> tuple[str, int] | None:
        return self._http.address

    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        await self._http.close()

    async def _answer(self, request: Request) -> Response:
        if request.method == "GET" and request.path != self.path:
            return _page(HTTPStatus.NOT_FOUND, "Not found", "Nothing here.")
        try:
            params = callback_params(request)
            await asyncio.to_thread(self.accept, params)  # a durable enqueue waits for an fsync
        except CallbackError as exc:
            log.warning("open-card callback refused: %s", exc)
            return _page(HTTPStatus.BAD_REQUEST, "Card not opened", f"{exc}. Please scan the QR code again.")
        except OutboxError as exc:
            log.error("open-card callback could not be queued: %s", exc)
            return _page(HTTPStatus.SERVICE_UNAVAILABLE, "Please try again",
                         "The till is busy; scan the QR code again.")  # fmt: skip
        return _page(HTTPStatus.OK, "Thank you",
                     "Your membership card is being opened. It will appear in Alipay shortly.")  # fmt: skip
