"""The relay's callback endpoint: check, limit, (exchange,) seal, publish, and only then answer the customer.

    GET <path>?auth_code=..&template_id=..&request_id=..&out_string=v1.S1.T1.E42.MAC
      1. method and path; the checks of `relay.checks` (no I/O but the till's key file): 400 + reason
      2. rate limits per customer address and in total (`agent.members.callback_limits`): 429
      3. the broker connection is up (else 503, before a code is spent in exchange mode)
      4. exchange mode: oauth.token (`relay.exchange`): 409 when the code is spent, 503 when Alipay is not
         reachable
      5. seal for the till (AES-GCM, the till's payload key, the topic as associated data) and publish at
         QoS 1; 200 "your card is being opened" only after the PUBACK, else 503 "try again"
    GET /healthz: 200 while connected to the broker, else 503 (for the load balancer)

Refusals are logged without secrets, at most a few per second.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlsplit

from agent.fleet.messages import Authorization, CallbackMessage, seal_callback
from agent.members.callback_limits import CallbackLimiter
from agent.throttled_log import ThrottledLog
from agent.web.http import Request, Response

from . import pages
from .checks import Refusal, RoutedCallback, route_callback
from .client_address import Network, client_address
from .exchange import CodeSpent, Exchange, ExchangeUnavailable
from .keys import TillKeys
from .metrics import RelayMetrics
from .mqtt import PublishError

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"


class Publisher(Protocol):
    @property
    def connected(self) -> bool: ...

    async def publish(self, topic: str, payload: bytes, timeout: float) -> None: ...


@dataclass(frozen=True)
class Route:
    """What the endpoint checks callbacks against."""

    path: str
    chain: str
    app_id: str
    template_ids: Collection[str]
    trusted_proxies: Sequence[Network] = ()
    publish_timeout: float = 5.0


class CallbackRelay:
    def __init__(self, route: Route, keys: TillKeys, broker: Publisher, limiter: CallbackLimiter,
                 metrics: RelayMetrics, *, exchange: Exchange | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.route = route
        self.keys = keys
        self.broker = broker
        self.limiter = limiter
        self.metrics = metrics
        self.exchange = exchange
        self._clock, self._wall = clock, wall
        self._log = ThrottledLog(log, clock, "callbacks refused or shed")

    async def answer(self, request: Request) -> Response:
        """The HTTP handler (the shell calls it)."""
        if request.path == HEALTH_PATH and request.method in ("GET", "HEAD"):
            return self._health()
        if request.path != self.route.path:
            return pages.not_found()
        if request.method != "GET":
            self.metrics.refused.labels("method").inc()
            return pages.not_allowed()
        self.metrics.received.inc()
        peer = client_address(request.peer, request.headers.get("x-forwarded-for"), self.route.trusted_proxies)
        try:
            routed = route_callback(urlsplit(request.target).query, chain=self.route.chain,
                                    app_id=self.route.app_id, template_ids=self.route.template_ids,
                                    mac_key_of=self.keys.mac_key)  # fmt: skip
        except Refusal as refusal:
            self.metrics.refused.labels(refusal.reason).inc()
            self._log.warning("callback from %s refused (%s): %s", peer, refusal.reason, refusal.message)
            return pages.refused(refusal.message)
        if not self.limiter.allow(peer, self._clock()):
            self.metrics.shed.inc()
            self._log.warning("callback from %s shed: over the rate limit", peer)
            return pages.too_many()
        if not self.broker.connected:  # before an exchange spends the code
            return self._failed(routed, "broker_down", "not connected to the broker")
        authorization: Authorization | None = None
        if self.exchange is not None:
            try:
                authorization = await self.exchange.authorize(routed.values)
            except CodeSpent as exc:
                self.metrics.failed.labels("code_spent").inc()
                self._log.warning("callback %s for %s: %s", routed.values.request_id, routed.till.name, exc)
                return pages.already_used()
            except ExchangeUnavailable as exc:
                return self._failed(routed, exc.reason, str(exc))
        return await self._publish(routed, authorization)

    async def _publish(self, routed: RoutedCallback, authorization: Authorization | None) -> Response:
        secrets_of_till = self.keys.secrets(routed.till)
        if secrets_of_till is None:  # the key file went away since the check
            self.metrics.refused.labels("unknown_till").inc()
            return pages.refused(f"store {routed.till.store} till {routed.till.till} is not a till of this chain")
        topic = routed.till.callback_topic
        message = CallbackMessage(secrets.token_hex(16), self._wall(), dict(routed.params), authorization)
        payload = seal_callback(secrets_of_till.payload_key, topic, message, os.urandom(12))
        started = time.perf_counter()
        try:
            await self.broker.publish(topic, payload, self.route.publish_timeout)
        except PublishError as exc:
            return self._failed(routed, exc.reason, str(exc))
        self.metrics.publish_seconds.observe(time.perf_counter() - started)
        self.metrics.published.inc()
        log.info("callback %s published to %s (message %s)", routed.values.request_id, routed.till.name, message.id)
        return pages.thanks()

    def _failed(self, routed: RoutedCallback, reason: str, why: str) -> Response:
        self.metrics.failed.labels(reason).inc()
        self._log.warning("callback %s for %s not delivered (%s): %s", routed.values.request_id, routed.till.name,
                          reason, why)  # fmt: skip
        return pages.till_not_connected() if reason == "no_subscriber" else pages.try_again()

    def _health(self) -> Response:
        if self.broker.connected:
            return Response.text(HTTPStatus.OK, "ok: connected to the broker\n")
        return Response.text(HTTPStatus.SERVICE_UNAVAILABLE, "not connected to the broker\n")
