"""The open-card callback endpoint: Alipay sends the customer's browser here (GET with the parameters)
after the form, in stores where the merchant's callback URL is forwarded to the till.

It is the one endpoint customers' phones reach, so it sheds what it must refuse before anything
costs a write or a call to Alipay, cheapest check first:

1. method, path, parameter count and shape, app and template, the out_string's MAC (no I/O);
2. a pending enrollment for that slip, or an unused slip printed offline (database reads);
3. rate limits per source address and in total (`agent.members.callback_limits`): 429;
4. only then the durable writes (which slip was used, the card.authorize job).

It rides on the status page's HTTP shell (h11) with tighter limits (an 8 KiB head that must arrive
within 5 s, no body to speak of, the shell's connection caps), answers at once, and the card opens in
the background. Refusals are logged without
secrets, and at most a few per second (a flood must not flood the journal).

No Host check here (unlike the status page): the endpoint holds no secret a rebinding page could
read, anyone can send it a GET anyway, and behind a store's forwarder the Host is the merchant's
public name, which the agent does not know. See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlsplit

from agent.members.callback_checks import query_params
from agent.members.callback_limits import CallbackLimiter, CallbackLimits
from agent.members.open_card import CallbackError
from agent.members.service import Callback
from agent.throttled_log import ThrottledLog
from agent.web import HttpServer, Limits, Request, Response
from offline_queue import OutboxError

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192
READ_TIMEOUT_SECONDS = 5.0
MAX_PARAMETERS = 20
RETRY_AFTER_SECONDS = 60
LIMITS = Limits(max_head_bytes=MAX_REQUEST_BYTES, max_body_bytes=1024, head_seconds=READ_TIMEOUT_SECONDS,
                body_seconds=READ_TIMEOUT_SECONDS, idle_seconds=READ_TIMEOUT_SECONDS)  # fmt: skip


class CallbackSink(Protocol):
    """Where checked callbacks go (the MemberService): the three steps, cheapest first."""

    def parse_callback(self, params: Mapping[str, object]) -> Callback: ...

    def check_callback(self, callback: Callback) -> None: ...

    def queue_callback(self, callback: Callback) -> object: ...


def _page(status: int, title: tuple[str, str], text: tuple[str, str],
          headers: tuple[tuple[str, str], ...] = ()) -> Response:  # fmt: skip
    """A small page for the customer's phone, in Chinese and English."""
    (title_zh, title_en), (text_zh, text_en) = [tuple(map(html.escape, pair)) for pair in (title, text)]
    body = ("<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{title_zh} / {title_en}</title><h1>{title_zh}</h1><p>{text_zh}</p>"
            f"<h2 lang=en>{title_en}</h2><p lang=en>{text_en}</p>").encode()  # fmt: skip
    return Response(status, body, headers=[("Connection", "close"), *headers])


def _refused(reason: str) -> Response:
    return _page(HTTPStatus.BAD_REQUEST, ("未能开卡", "Card not opened"),
                 ("如果会员卡没有出现在支付宝中，请向收银员索取新的开卡二维码。",
                  f"{reason}. If your card does not appear in Alipay, ask the cashier for a new QR code."))  # fmt: skip


NOT_FOUND = _page(HTTPStatus.NOT_FOUND, ("未找到", "Not found"), ("这里没有内容。", "Nothing here."))
NOT_ALLOWED = _page(HTTPStatus.METHOD_NOT_ALLOWED, ("不支持的请求", "Method not allowed"),
                    ("请用支付宝扫描开卡二维码。", "Open this page by scanning the QR code in Alipay."),
                    (("Allow", "GET"),))  # fmt: skip
TOO_MANY = _page(HTTPStatus.TOO_MANY_REQUESTS, ("请稍后再试", "Please try again in a minute"),
                 ("请求过多，请一分钟后重新扫描二维码。", "Too many requests; scan the QR code again in a minute."),
                 (("Retry-After", str(RETRY_AFTER_SECONDS)),))  # fmt: skip
BUSY = _page(HTTPStatus.SERVICE_UNAVAILABLE, ("请稍后再试", "Please try again"),
             ("收银台繁忙，请稍后重新扫描二维码。",
              "The till is busy; scan the QR code again in a moment."))  # fmt: skip
THANKS = _page(HTTPStatus.OK, ("谢谢", "Thank you"),
               ("您的会员卡正在开通，稍后将出现在支付宝中。",
                "Your membership card is being opened. It will appear in Alipay shortly."))  # fmt: skip


def callback_params(request: Request) -> dict[str, str]:
    """The callback parameters of the request's query; raises CallbackError (400)."""
    return query_params(urlsplit(request.target).query, MAX_PARAMETERS)


class CallbackServer:
    def __init__(self, host: str, port: int, path: str, sink: CallbackSink, *, limits: CallbackLimits | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.path = path
        self.sink = sink
        self._clock = clock
        self.limiter = CallbackLimiter(limits or CallbackLimits(), now=clock())
        self._refusals = ThrottledLog(log, clock, "callbacks refused")
        self.counts = {"accepted": 0, "refused": 0, "shed": 0, "failed": 0}  # for the bench and the tests
        self._http = HttpServer(host, port, self.answer, limits=LIMITS, name="open-card callback")

    @property
    def address(self) -> tuple[str, int] | None:
        return self._http.address

    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        await self._http.close()

    async def answer(self, request: Request) -> Response:
        """The HTTP handler (the shell calls it; tests may too)."""
        if request.path != self.path:
            return NOT_FOUND
        if request.method != "GET":
            return NOT_ALLOWED
        try:
            callback = self.sink.parse_callback(callback_params(request))
            await asyncio.to_thread(self.sink.check_callback, callback)
        except CallbackError as exc:
            return self._refuse(request, exc)
        except Exception as exc:  # a locked or failing database: the customer can scan again
            return self._fail(exc)
        if not self.limiter.allow(request.peer, self._clock()):
            self.counts["shed"] += 1
            self._refusals.warning("open-card callback from %s shed: over the rate limit", request.peer)
            return TOO_MANY
        try:
            await asyncio.to_thread(self.sink.queue_callback, callback)  # durable: waits for an fsync
        except CallbackError as exc:
            return self._refuse(request, exc)
        except OutboxError as exc:
            self.counts["failed"] += 1
            log.error("open-card callback could not be queued: %s", exc)
            return BUSY
        except Exception as exc:
            return self._fail(exc)
        self.counts["accepted"] += 1
        return THANKS

    def _refuse(self, request: Request, exc: CallbackError) -> Response:
        self.counts["refused"] += 1
        self._refusals.warning("open-card callback from %s refused: %s", request.peer, exc)
        return _refused(str(exc))

    def _fail(self, exc: Exception) -> Response:
        self.counts["failed"] += 1
        # Only the type: a message could quote the request's values.
        log.error("open-card callback failed: %s", type(exc).__name__)
        return BUSY
