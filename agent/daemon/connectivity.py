"""Is the gateway reachable? Probed on a schedule and told by every real call's outcome.

A probe is a plain GET of the gateway URL: an HTTP answer below 500 means the line and Alipay's front
door are up; a refused, reset or timed-out connection, or a 5xx from the load balancer, means they are
not. A real call that could not connect flips the state at once; a call that was sent but got no
answer (reset, timeout, 5xx: Alipay may be down at the far end) makes the monitor probe at once rather
than at its next turn, so new sales fail fast instead of waiting out an outage. Listeners (the outbox
dispatcher, the payment service) hear every flip.

The first probe that finds Alipay reachable is told too, flip or not: the monitor starts optimistic,
so a restart during an outage that ends before the first probe flips nothing, and jobs the previous
process left backing off (minutes, after many failed attempts) would wait out delays chosen under an
older verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import httpx

from drivers.addresses import display_address

log = logging.getLogger(__name__)

Listener = Callable[[bool], None]


class ConnectivityMonitor:
    def __init__(self, gateway_url: str, *, online_interval: float = 30.0, offline_interval: float = 3.0,
                 timeout: float = 3.0, min_gap: float = 0.5) -> None:  # fmt: skip
        self.gateway_url = gateway_url
        self.min_gap = min_gap
        self.online_interval = online_interval
        self.offline_interval = offline_interval
        self.timeout = timeout
        self.online = True  # optimistic until the first probe says otherwise
        self.since = time.time()
        self._listeners: list[Listener] = []
        self._reachable_listeners: list[Callable[[], None]] = []
        self._confirmed = False  # has a probe of this process found Alipay reachable?
        self._task: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def when_first_reachable(self, listener: Callable[[], None]) -> None:
        """Call `listener` once, when a probe of this process first finds Alipay reachable."""
        self._reachable_listeners.append(listener)

    def report(self, online: bool) -> None:
        """A real call succeeded (True) or could not connect (False)."""
        if online == self.online:
            return
        self.online = online
        self.since = time.time()
        log.warning("Alipay gateway is %s", "reachable again" if online else "unreachable")
        for listener in list(self._listeners):
            try:
                listener(online)
            except Exception:
                log.exception("connectivity listener failed")
        if not online:
            self._kick.set()

    def suspect(self) -> None:
        """A call was sent and got no answer: find out now whether Alipay is still there."""
        if self.online:
            self._kick.set()

    async def probe(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as http, \
                    http.stream("GET", self.gateway_url) as response:  # the status is enough: no body read
                status = response.status_code
        except Exception:  # whatever stops an answer (httpx, ssl, OS) means "not reachable"
            return False
        return status < 500

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="connectivity")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            online = await self.probe()
            self.report(online)
            if online and not self._confirmed:
                self._confirmed = True
                for listener in list(self._reachable_listeners):
                    try:
                        listener()
                    except Exception:
                        log.exception("connectivity listener failed")
            interval = self.online_interval if self.online else self.offline_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), interval)
            # However many calls fail at once, probe at most once per gap.
            await asyncio.sleep(self.min_gap)
            self._kick.clear()

    def status(self) -> dict[str, object]:
        return {"online": self.online, "since": self.since, "gateway": display_address(self.gateway_url)}
