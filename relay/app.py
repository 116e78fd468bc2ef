"""One relay instance: the callback listener, the broker link, the metrics listener, wired together.

    async with Relay(config, secrets) as relay:     # listening and connecting
        relay.callback_url, relay.metrics_url

Stateless: everything it holds (rate-limit buckets, exchange mode's recent authorizations, the fleet view)
is rebuilt from scratch at start, so instances can be added, removed or killed at any time.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from http import HTTPStatus
from types import TracebackType

from agent.alipay import AlipayClient, Timeouts
from agent.fleet.topics import status_filter
from agent.members.callback_limits import CallbackLimiter, CallbackLimits
from agent.web.http import HttpServer, Limits, Request, Response

from .client_address import networks
from .config import RelayConfig, RelaySecrets, exchange_cert_store
from .exchange import Exchange
from .fleet_view import FleetView
from .handler import CallbackRelay, Route
from .keys import TillKeys
from .metrics import RelayMetrics
from .mqtt import BrokerLink, BrokerLogin, client_id

log = logging.getLogger(__name__)


def callback_limits(config: RelayConfig) -> Limits:
    """The agent's callback endpoint's limits (a small head that must come whole within 5 s, no body), with
    room for a headquarters' load: more connections, and no per-address cap behind load balancers (every
    connection comes from one of them; the rate limit reads the customer's address instead)."""
    behind_proxies = bool(config.relay.trusted_proxies)
    total = config.relay.max_connections
    return Limits(max_head_bytes=8192, max_body_bytes=1024, max_query_fields=64, head_seconds=5.0, body_seconds=5.0,
                  idle_seconds=5.0, max_connections=total,
                  max_per_client=total if behind_proxies else min(16, total))  # fmt: skip


class ListenError(Exception):
    """A listener could not bind (the port is taken, the address is not this machine's)."""


class Relay:
    def __init__(self, config: RelayConfig, secrets: RelaySecrets) -> None:
        self.config = config
        chain = config.chain.id
        self.fleet = FleetView(chain)
        self.keys = TillKeys(config.keys.dir)
        broker = config.broker
        login = BrokerLogin(broker.address, broker.username, secrets.broker_password, broker.ca_file,
                            client_id(broker.client_id_prefix), broker.keepalive_seconds,
                            broker.max_inflight)  # fmt: skip
        self.broker = BrokerLink(login, status_filter=status_filter(chain), on_status=self._status)
        self.metrics = RelayMetrics(self.fleet, connected=lambda: self.broker.connected,
                                    provisioned=self.keys.provisioned)  # fmt: skip
        self._alipay: AlipayClient | None = None
        exchange = None
        if config.exchange is not None and secrets.exchange is not None:
            # Certificate mode: a certificate Alipay rotates to is downloaded once, checked and kept for the
            # next start (load_secrets read the kept ones).
            sink = exchange_cert_store(config).save if secrets.exchange.cert_mode is not None else None
            self._alipay = AlipayClient(secrets.exchange, config.exchange.gateway,
                                        timeouts=Timeouts(connect=config.exchange.connect_timeout,
                                                          read=config.exchange.read_timeout),
                                        cert_sink=sink)  # fmt: skip
            exchange = Exchange(self._alipay, keep_seconds=config.exchange.keep_seconds)
        route = Route(config.relay.path, chain, config.chain.app_id, frozenset(config.chain.template_ids),
                      networks(config.relay.trusted_proxies), broker.publish_timeout_seconds)  # fmt: skip
        limits = CallbackLimits(config.limits.per_source_per_minute, config.limits.total_per_minute)
        limiter = CallbackLimiter(limits, now=time.monotonic())  # the handler's clock
        self.handler = CallbackRelay(route, self.keys, self.broker, limiter, self.metrics, exchange=exchange)
        self._metrics_token = secrets.metrics_token
        self.http = HttpServer(config.relay.host, config.relay.port, self.handler.answer,
                               limits=callback_limits(config), name="callback relay")  # fmt: skip
        self.metrics_http: HttpServer | None = None
        if config.metrics.enabled:
            self.metrics_http = HttpServer(config.metrics.host, config.metrics.port, self._serve_metrics,
                                           name="relay metrics")  # fmt: skip

    # --- life ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and connect; ListenError (naming the setting) when a listener cannot bind."""
        self.broker.start()
        listeners = [("relay", self.http)] + ([("metrics", self.metrics_http)] if self.metrics_http else [])
        for section, server in listeners:
            try:
                await server.start()
            except OSError as exc:
                await self.close()
                raise ListenError(f"{section}.host/{section}.port: cannot listen on {server.host}:{server.port} "
                                  f"({os.strerror(exc.errno) if exc.errno else exc})") from None  # fmt: skip

    async def close(self) -> None:
        await self.http.close()
        if self.metrics_http is not None:
            await self.metrics_http.close()
        await self.broker.stop()
        if self._alipay is not None:
            await self._alipay.aclose()

    async def __aenter__(self) -> Relay:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        await self.close()

    # --- addresses ----------------------------------------------------------------------------------

    @property
    def callback_url(self) -> str:
        """Where this instance listens (the public URL is the load balancer's)."""
        return _url(self.http.address) + self.config.relay.path

    @property
    def metrics_url(self) -> str | None:
        return None if self.metrics_http is None else _url(self.metrics_http.address) + "/metrics"

    # --- internals ----------------------------------------------------------------------------------

    def _status(self, topic: str, payload: bytes) -> None:
        if not self.fleet.update(topic, payload):
            log.debug("a status on %s was dropped (malformed or foreign)", topic[:120])

    async def _serve_metrics(self, request: Request) -> Response:
        if request.path != "/metrics" or request.method not in ("GET", "HEAD"):
            return Response.text(HTTPStatus.NOT_FOUND, "not found: /metrics\n")
        if self._metrics_token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self._metrics_token}".encode()):
                return Response(HTTPStatus.UNAUTHORIZED, b"token required\n", "text/plain; charset=utf-8",
                                [("WWW-Authenticate", 'Bearer realm="posagent-relay"')])  # fmt: skip
        return Response(HTTPStatus.OK, self.metrics.render(), RelayMetrics.CONTENT_TYPE)


def _url(address: tuple[str, int] | None) -> str:
    if address is None:
        return "http://(not listening)"
    host, port = address
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # an any-address listener
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"
