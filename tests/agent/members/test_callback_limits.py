"""Callback rate limits: per source address (an IPv6 /64 is one source) and in total; pure, clock passed in."""

from __future__ import annotations

from agent.members.callback_limits import CallbackLimiter, CallbackLimits, source_of


def test_one_source_gets_its_burst_then_its_rate() -> None:
    limiter = CallbackLimiter(CallbackLimits(per_source_per_minute=3, total_per_minute=100), now=0.0)
    assert [limiter.allow("203.0.113.5", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("203.0.113.6", 0.0)  # another phone is not affected
    assert not limiter.allow("203.0.113.5", 10.0)
    assert limiter.allow("203.0.113.5", 20.0)  # 3 per minute: one every 20 s


def test_the_total_limit_holds_across_sources_and_a_refusal_costs_nothing() -> None:
    limiter = CallbackLimiter(CallbackLimits(per_source_per_minute=2, total_per_minute=4), now=0.0)
    assert [limiter.allow(f"198.51.100.{n}", 0.0) for n in range(6)] == [True] * 4 + [False] * 2
    # The refused sources kept their own tokens: after the total refills they pass.
    assert limiter.allow("198.51.100.4", 15.0)


def test_an_ipv6_client_is_one_source_for_its_whole_64() -> None:
    limiter = CallbackLimiter(CallbackLimits(per_source_per_minute=2, total_per_minute=100), now=0.0)
    assert limiter.allow("2001:db8:1:2::1", 0.0) and limiter.allow("2001:db8:1:2:ffff::9", 0.0)
    assert not limiter.allow("2001:db8:1:2:abcd::1", 0.0)
    assert limiter.allow("2001:db8:1:3::1", 0.0)
    assert source_of("::ffff:192.0.2.7") == "192.0.2.7" and source_of("fe80::1%eth0") == "fe80::/64"
    assert source_of("unix") == "unix"


def test_the_table_of_sources_stays_bounded() -> None:
    limiter = CallbackLimiter(CallbackLimits(per_source_per_minute=1, total_per_minute=1e9, max_sources=100), now=0.0)
    for n in range(5000):
        limiter.allow(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", 0.0)
    assert limiter.sources == 100
