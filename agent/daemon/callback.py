"""The open-card callback endpoint: Alipay sends the customer's browser here (GET with the parameters)
after the form, in stores where the merchant's callback URL is forwarded to the till.

It rides on the status page's HTTP shell (h11) with a smaller head limit (8 KiB) and a short idle
timeout. It validates, queues the card opening and answers at once; the card opens in the background.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from agent.members.open_card import CallbackError
from agent.web import HttpServer, Request, Response
from offline_queue import OutboxError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192
READ_TIMEOUT_SECONDS = 5.0

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
        self._http = HttpServer(host, port, self._answer, max_head_bytes=MAX_REQUEST_BYTES,
                                idle_timeout=READ_TIMEOUT_SECONDS)  # fmt: skip

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
