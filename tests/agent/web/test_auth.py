"""Logging in with the ECR token: sessions, their cookie, throttling, expiry, eviction, bearer, CSRF."""

from __future__ import annotations

import pytest

from agent.guard import FailureThrottle
from agent.web.auth import (
    MAX_SESSIONS,
    SESSION_COOKIE,
    LoginRefused,
    Session,
    Sessions,
    csrf_ok,
    session_cookie,
)

TOKEN = "the-ecr-token"
HERE = "192.168.1.20"
THERE = "192.168.1.21"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


FREE = 3  # wrong tokens answered at once before answers are held back


@pytest.fixture
def sessions(clock: Clock) -> Sessions:
    throttle = FailureThrottle(free=FREE, first_delay=1.0, max_delay=30.0, window=300.0, global_free=1000)
    return Sessions(TOKEN, ttl=3600, clock=clock, throttle=throttle)


def fail(sessions: Sessions, peer: str, times: int) -> list[float]:
    """Wrong tokens from `peer`; how long each answer is to be held back."""
    delays = []
    for _ in range(times):
        with pytest.raises(LoginRefused) as refused:
            sessions.login("not-the-token", peer)
        delays.append(refused.value.failure.delay)
    return delays


def test_the_right_token_gives_a_session_found_by_its_id(sessions: Sessions) -> None:
    session = sessions.login(TOKEN, HERE)

    assert sessions.get(session.id) == session
    assert session.id and session.csrf and session.id != session.csrf
    assert TOKEN not in session.id and TOKEN not in session.csrf


def test_each_login_gets_its_own_session(sessions: Sessions) -> None:
    first, second = sessions.login(TOKEN, HERE), sessions.login(TOKEN, HERE)

    assert first.id != second.id and first.csrf != second.csrf


def test_the_cookie_is_http_only_same_site_strict_for_the_whole_site(sessions: Sessions) -> None:
    session = sessions.login(TOKEN, HERE)

    attributes = [part.strip() for part in session_cookie(session, ttl=3600).split(";")]

    assert attributes[0] == f"{SESSION_COOKIE}={session.id}"
    assert {"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"} <= set(attributes[1:])
    assert TOKEN not in session_cookie(session)


def test_the_logout_cookie_is_empty_and_expires_at_once() -> None:
    attributes = [part.strip() for part in session_cookie(None).split(";")]

    assert attributes[0] == f"{SESSION_COOKIE}="
    assert {"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=0"} <= set(attributes[1:])


def test_a_wrong_token_is_refused_and_its_first_answers_are_not_held(sessions: Sessions) -> None:
    with pytest.raises(LoginRefused) as refused:
        sessions.login("guess", HERE)

    assert refused.value.failure.delay == 0
    assert "guess" not in str(refused.value)


def test_surrounding_whitespace_in_the_typed_token_is_ignored(sessions: Sessions) -> None:
    assert sessions.get(sessions.login(f"  {TOKEN}\n", HERE).id) is not None


def test_unknown_or_missing_session_ids_find_nothing(sessions: Sessions) -> None:
    sessions.login(TOKEN, HERE)

    assert sessions.get(None) is None
    assert sessions.get("") is None
    assert sessions.get("forged") is None


def test_repeated_wrong_tokens_are_held_back_longer_and_longer(sessions: Sessions) -> None:
    assert fail(sessions, HERE, FREE + 6) == [0, 0, 0, 1, 2, 4, 8, 16, 30]


def test_the_right_token_logs_in_at_once_during_a_flood_of_wrong_ones(sessions: Sessions, clock: Clock) -> None:
    """Any local user could otherwise lock the technician out by typing wrong tokens."""
    fail(sessions, HERE, 50)
    clock.now += 1

    session = sessions.login(TOKEN, HERE)  # same address, right away: no wait, no refusal

    assert sessions.get(session.id) == session


def test_wrong_tokens_are_held_back_per_address(sessions: Sessions) -> None:
    fail(sessions, HERE, 20)

    assert fail(sessions, THERE, 1) == [0]


def test_the_delay_ends_after_the_window(sessions: Sessions, clock: Clock) -> None:
    fail(sessions, HERE, 20)
    clock.now += 301

    assert fail(sessions, HERE, 1) == [0]


def test_a_wrong_bearer_token_counts_as_a_failure_too(sessions: Sessions) -> None:
    delays = [sessions.wrong_token(HERE).delay for _ in range(FREE + 1)]

    assert delays == [0, 0, 0, 1]
    assert fail(sessions, HERE, 1) == [2]  # the same count as log-in failures


def test_a_session_expires_after_its_ttl(sessions: Sessions, clock: Clock) -> None:
    session = sessions.login(TOKEN, HERE)

    clock.now += 3599
    assert sessions.get(session.id) == session
    clock.now += 1
    assert sessions.get(session.id) is None
    clock.now -= 10  # and it stays gone
    assert sessions.get(session.id) is None


def test_logout_ends_only_that_session(sessions: Sessions) -> None:
    mine, other = sessions.login(TOKEN, HERE), sessions.login(TOKEN, THERE)

    sessions.logout(mine.id)
    sessions.logout(None)
    sessions.logout("unknown")

    assert sessions.get(mine.id) is None
    assert sessions.get(other.id) == other


def test_beyond_max_sessions_the_oldest_login_goes(sessions: Sessions, clock: Clock) -> None:
    logins: list[Session] = []
    for _ in range(MAX_SESSIONS):
        logins.append(sessions.login(TOKEN, HERE))
        clock.now += 1

    newest = sessions.login(TOKEN, HERE)

    assert sessions.get(logins[0].id) is None
    assert all(sessions.get(s.id) == s for s in logins[1:])
    assert sessions.get(newest.id) == newest


def test_expired_sessions_make_room_before_a_live_one_is_evicted(sessions: Sessions, clock: Clock) -> None:
    old = [sessions.login(TOKEN, HERE) for _ in range(MAX_SESSIONS - 1)]
    clock.now += 1800
    keep = sessions.login(TOKEN, HERE)
    clock.now += 1800  # the first ones have expired now

    sessions.login(TOKEN, HERE)

    assert sessions.get(keep.id) == keep
    assert all(sessions.get(s.id) is None for s in old)


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}"])
def test_bearer_with_the_token_is_accepted(sessions: Sessions, header: str) -> None:
    assert sessions.bearer_ok(header)


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Bearer wrong", f"Basic {TOKEN}", TOKEN, f"Token {TOKEN}", f"Bearer {TOKEN}x"],
)
def test_bearer_refuses_anything_else(sessions: Sessions, header: str | None) -> None:
    assert not sessions.bearer_ok(header)


def test_csrf_must_be_the_sessions_own_value(sessions: Sessions) -> None:
    mine, other = sessions.login(TOKEN, HERE), sessions.login(TOKEN, HERE)

    assert csrf_ok(mine, mine.csrf)
    assert not csrf_ok(mine, other.csrf)
    assert not csrf_ok(mine, None)
    assert not csrf_ok(mine, "")
    assert not csrf_ok(mine, mine.id)
