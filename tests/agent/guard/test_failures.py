"""Holding back answers to wrong tokens: a few free, then doubling, per client and for everyone; bounded memory."""

from __future__ import annotations

from agent.guard import FailureThrottle


def delays(throttle: FailureThrottle, client: str, times: int, now: float = 0.0) -> list[float]:
    return [throttle.failed(client, now).delay for _ in range(times)]


def test_the_first_failures_are_free_then_each_waits_twice_as_long_up_to_the_cap() -> None:
    throttle = FailureThrottle(free=3, first_delay=1.0, max_delay=8.0, global_free=1000)

    assert delays(throttle, "a", 8) == [0, 0, 0, 1, 2, 4, 8, 8]


def test_clients_are_throttled_separately() -> None:
    throttle = FailureThrottle(free=1, global_free=1000)
    delays(throttle, "a", 5)

    assert throttle.failed("b", 0).delay == 0


def test_failures_older_than_the_window_are_forgotten() -> None:
    throttle = FailureThrottle(free=1, window=60, global_free=1000)
    delays(throttle, "a", 5, now=0)

    assert throttle.failed("a", 61).delay == 0


def test_many_clients_together_are_throttled_too() -> None:
    throttle = FailureThrottle(free=100, global_free=10, global_step=5, first_delay=1.0)
    for i in range(10):
        assert throttle.failed(f"10.0.0.{i}", 0).delay == 0

    assert throttle.failed("10.0.1.1", 0).delay == 1.0  # 11th failure overall, each from a new client
    assert max(throttle.failed(f"10.0.2.{i}", 0).delay for i in range(9)) == 2.0  # 5 more per doubling


def test_huge_floods_keep_memory_bounded_and_the_delay_capped() -> None:
    throttle = FailureThrottle(max_clients=50, max_recent=8, max_recent_global=100, max_delay=30)
    for i in range(5000):
        last = throttle.failed(f"c{i % 200}", i * 0.001)

    assert last.delay == 30
    assert len(throttle._clients) <= 50
    assert all(len(times) <= 8 for times in throttle._clients.values())


def test_only_the_start_of_a_burst_is_worth_logging() -> None:
    throttle = FailureThrottle(max_recent=64)

    logged = [i + 1 for i in range(40) if throttle.failed("a", 0).worth_logging]

    assert logged == [1, 2, 4, 8, 16, 32]
