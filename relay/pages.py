"""The pages the customer's phone gets from the relay, in Chinese and English. Small, no scripts, no secrets:
the refusal text is the check's own message, which never quotes the auth_code."""

from __future__ import annotations

import html
from http import HTTPStatus

from agent.web.http import Response

RETRY_AFTER_SECONDS = 60


def page(status: int, title: tuple[str, str], text: tuple[str, str],
         headers: tuple[tuple[str, str], ...] = ()) -> Response:  # fmt: skip
    (title_zh, title_en), (text_zh, text_en) = [tuple(map(html.escape, pair)) for pair in (title, text)]
    body = ("<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{title_zh} / {title_en}</title><h1>{title_zh}</h1><p>{text_zh}</p>"
            f"<h2 lang=en>{title_en}</h2><p lang=en>{text_en}</p>").encode()  # fmt: skip
    return Response(status, body, headers=list(headers))


def refused(reason: str) -> Response:
    return page(HTTPStatus.BAD_REQUEST, ("未能开卡", "Card not opened"),
                ("如果会员卡没有出现在支付宝中，请向收银员索取新的开卡二维码。",
                 f"{reason}. If your card does not appear in Alipay, ask the cashier for a new QR code."),
                (("Connection", "close"),))  # fmt: skip


def thanks() -> Response:
    return page(HTTPStatus.OK, ("谢谢", "Thank you"),
                ("您的会员卡正在开通，稍后将出现在支付宝中。",
                 "Your membership card is being opened. It will appear in Alipay shortly."))  # fmt: skip


def try_again() -> Response:
    """The broker did not take the callback (down, or no PUBACK in time): nothing was promised."""
    return page(HTTPStatus.SERVICE_UNAVAILABLE, ("请稍后再试", "Please try again"),
                ("系统繁忙，您的会员卡尚未开通。请稍后刷新本页面或重新扫描二维码。",
                 "We could not take your request just now, and your card is not opened yet. Reload this page or "
                 "scan the QR code again in a moment."), (("Retry-After", "10"),))  # fmt: skip


def till_not_connected() -> Response:
    """The broker has no session for the till: nobody would ever receive the callback."""
    return page(HTTPStatus.SERVICE_UNAVAILABLE, ("门店收银台未连接", "The store's till is not connected"),
                ("您的会员卡尚未开通。请稍后重试，或联系收银员。",
                 "Your card is not opened yet. Try again later, or ask the cashier."),
                (("Retry-After", "60"),))  # fmt: skip


def already_used() -> Response:
    """Exchange mode: Alipay says the code of this callback was already used (or has expired)."""
    return page(HTTPStatus.CONFLICT, ("此链接已使用", "This link was already used"),
                ("如果几分钟后会员卡仍未出现在支付宝中，请向收银员索取新的开卡二维码。",
                 "If your card does not appear in Alipay within a few minutes, ask the cashier for a new QR "
                 "code."), (("Connection", "close"),))  # fmt: skip


def too_many() -> Response:
    return page(HTTPStatus.TOO_MANY_REQUESTS, ("请稍后再试", "Please try again in a minute"),
                ("请求过多，请一分钟后重新扫描二维码。", "Too many requests; scan the QR code again in a minute."),
                (("Retry-After", str(RETRY_AFTER_SECONDS)), ("Connection", "close")))  # fmt: skip


def not_found() -> Response:
    return page(HTTPStatus.NOT_FOUND, ("未找到", "Not found"), ("这里没有内容。", "Nothing here."),
                (("Connection", "close"),))  # fmt: skip


def not_allowed() -> Response:
    return page(HTTPStatus.METHOD_NOT_ALLOWED, ("不支持的请求", "Method not allowed"),
                ("请用支付宝扫描开卡二维码。", "Open this page by scanning the QR code in Alipay."),
                (("Allow", "GET"), ("Connection", "close")))  # fmt: skip
