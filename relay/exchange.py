"""Exchange mode: the relay turns the customer's auth_code into an authorization at once
(`alipay.system.oauth.token`) and sends it to the till in the sealed message, so a store that is offline
for longer than the code lives (minutes) still opens the card when it is back (the token lives for days).

The auth_code is single use, and a customer may well send the same callback twice: the browser reloads
the page, or the first answer was "try again" because the broker did not acknowledge in time. So:
- an exchanged authorization is kept in memory for `keep_seconds`, keyed by the callback (template,
  request_id and a keyed hash of the code), and a repeat of the callback reuses it (and is published
  again: the till counts a request_id it already queued as done);
- two copies arriving at once share one oauth.token call;
- a repeat that reaches another relay instance cannot reuse it: Alipay answers that the code is spent,
  and the customer is told the link was already used (`CodeSpent`, 409). A load balancer with client
  affinity makes that rare; docs/fleet.md says so.
- the broker's state is checked before the exchange (the handler does), so the code is not spent for a
  callback that cannot be published anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable

from agent.alipay import AlipayClient, AlipayError, BusinessError, ConfigurationError, apis
from agent.fleet.messages import Authorization
from agent.members.callback_checks import CallbackValues

log = logging.getLogger(__name__)

MAX_KEPT = 100_000  # authorizations kept at once (a few hundred bytes each)
DEFAULT_EXPIRES_IN = 3600  # oauth.token always says; should it not, an hour is what the token surely lives


class CodeSpent(Exception):
    """Alipay refused the code (already used, or expired): only a new scan helps."""


class ExchangeUnavailable(Exception):
    """The exchange could not be made now (Alipay unreachable, no answer, our set-up): try again."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # "exchange_unreachable" or "exchange_config": a metrics label


class Exchange:
    def __init__(self, client: AlipayClient, *, keep_seconds: float,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.client = client
        self.keep_seconds = keep_seconds
        self._clock, self._wall = clock, wall
        self._secret = os.urandom(32)  # the cache's keys never hold a code
        self._kept: OrderedDict[bytes, tuple[float, Authorization]] = OrderedDict()
        self._running: dict[bytes, asyncio.Future[Authorization]] = {}

    def _key(self, values: CallbackValues) -> bytes:
        text = "\x00".join((values.template_id, values.request_id, values.auth_code)).encode()
        return hmac.new(self._secret, text, hashlib.sha256).digest()

    async def authorize(self, values: CallbackValues) -> Authorization:
        """The callback's authorization: kept from an earlier copy, or exchanged now. CodeSpent or
        ExchangeUnavailable otherwise."""
        key = self._key(values)
        self._forget_old()
        kept = self._kept.get(key)
        if kept is not None:
            return kept[1]
        running = self._running.get(key)
        if running is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if running.cancelled():  # the first copy's request went away mid-exchange
                    raise ExchangeUnavailable("exchange_unreachable", "the exchange was interrupted") from None
                raise
        future: asyncio.Future[Authorization] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            authorization = await self._exchange(values.auth_code)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a copy waiting on it re-raises it; nobody waiting is fine too
            raise
        finally:
            self._running.pop(key, None)
        future.set_result(authorization)
        self._kept[key] = (self._clock() + self.keep_seconds, authorization)
        while len(self._kept) > MAX_KEPT:
            self._kept.popitem(last=False)
        return authorization

    async def _exchange(self, auth_code: str) -> Authorization:
        try:
            token = await self.client.execute(apis.OAuthToken(code=auth_code))
        except BusinessError as exc:  # isv.code-invalid: used or expired
            raise CodeSpent(f"Alipay refused the code ({exc.sub_code or exc.code})") from None
        except ConfigurationError as exc:
            log.error("exchange mode: oauth.token refused the relay's set-up: %s (%s)", exc.message, exc.sub_code)
            raise ExchangeUnavailable("exchange_config", "the relay's Alipay set-up is refused") from None
        except AlipayError as exc:
            raise ExchangeUnavailable("exchange_unreachable", f"oauth.token failed ({exc.kind})") from None
        user = token.user_id or token.open_id
        assert user is not None  # the API parser refuses a reply with neither
        return Authorization(token.access_token, user, token.expires_in or DEFAULT_EXPIRES_IN, self._wall())

    def _forget_old(self) -> None:
        now = self._clock()
        while self._kept:
            _, (expires, _) = next(iter(self._kept.items()))
            if expires > now:
                break
            self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)
