"""How many open-card callbacks are accepted, per source address and in all (pure: the caller passes
the time). Only callbacks that passed every other check get here: this bounds what a holder of a
genuine slip can make the agent write and send, and never lets one phone starve the others.

Addresses are grouped as attackers get them: an IPv6 client owns a whole /64, so its /64 is one
source; an IPv4-mapped IPv6 address is its IPv4 address. The table of sources is bounded (the least
recently seen source is forgotten first); the total limit holds whatever the number of sources.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

from offline_queue.ratelimit import TokenBucket


@dataclass(frozen=True)
class CallbackLimits:
    per_source_per_minute: float = 10.0
    total_per_minute: float = 60.0
    max_sources: int = 4096

    def __post_init__(self) -> None:
        if self.per_source_per_minute <= 0 or self.total_per_minute <= 0 or self.max_sources < 1:
            raise ValueError("callback limits must be positive")


def source_of(peer: str) -> str:
    """The rate-limited source for a peer address: the IPv4 address, or the IPv6 /64."""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return peer  # a Unix socket or a test double: one source
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class CallbackLimiter:
    """Token buckets per source and in total; a callback takes from both or from neither."""

    def __init__(self, limits: CallbackLimits, *, now: float) -> None:
        self.limits = limits
        # A burst as large as a minute's allowance: a family enrolling together is not refused.
        self._total = TokenBucket(limits.total_per_minute / 60, burst=limits.total_per_minute, now=now)
        self._sources: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, peer: str, now: float) -> bool:
        source = source_of(peer)
        bucket = self._sources.get(source)
        if bucket is None:
            while len(self._sources) >= self.limits.max_sources:
                self._sources.popitem(last=False)  # the least recently seen source
            per_minute = self.limits.per_source_per_minute
            bucket = self._sources[source] = TokenBucket(per_minute / 60, burst=per_minute, now=now)
        else:
            self._sources.move_to_end(source)
        if bucket.tokens(now) < 1 or self._total.tokens(now) < 1:
            return False
        return bucket.try_take(now) and self._total.try_take(now)

    @property
    def sources(self) -> int:
        return len(self._sources)
