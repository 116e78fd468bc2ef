"""Logging in with the ECR token: sessions, their cookie, throttling, expiry, eviction, bearer, CSRF."""

from __future__ import annotations

import pytest

from agent.web.auth import (
    FAILURE_WINDOW_SECONDS,
    MAX_FAILURES,
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


@pytest.fixture
def sessions(clock: Clock) -> Sessions:
    return Sessions(TOKEN, ttl=3600, clock=clock)


def fail(sessions: Sessions, peer: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(LoginRefused) as refused:
            sessions.login("not-the-token", peer)
        assert refused.value.retry_after is None


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


def test_a_wrong_token_is_refused_without_a_wait(sessions: Sessions) -> None:
    with pytest.raises(LoginRefused) as refused:
        sessions.login("guess", HERE)

    assert refused.value.retry_after is None
    assert "guess" not in str(refused.value)


def test_surrounding_whitespace_in_the_typed_token_is_ignored(sessions: Sessions) -> None:
    assert sessions.get(sessions.login(f"  {TOKEN}\n", HERE).id) is not None


def test_unknown_or_missing_session_ids_find_nothing(sessions: Sessions) -> None:
    sessions.login(TOKEN, HERE)

    assert sessions.get(None) is None
    assert sessions.get("") is None
    assert sessions.get("forged") is None


def test_too_many_wrong_tokens_throttle_that_address_only(sessions: Sessions, clock: Clock) -> None:
    fail(sessions, HERE, MAX_FAILURES)
    clock.now += 5

    with pytest.raises(LoginRefused) as refused:
        sessions.login(TOKEN, HERE)  # even the right token waits

    assert refused.value.retry_after is not None
    assert 0 < refused.value.retry_after <= FAILURE_WINDOW_SECONDS
    assert sessions.get(sessions.login(TOKEN, THERE).id) is not None


def test_fewer_wrong_tokens_than_the_limit_do_not_throttle(sessions: Sessions) -> None:
    fail(sessions, HERE, MAX_FAILURES - 1)

    assert sessions.get(sessions.login(TOKEN, HERE).id) is not None


def test_the_throttle_ends_after_the_window(sessions: Sessions, clock: Clock) -> None:
    fail(sessions, HERE, MAX_FAILURES)
    with pytest.raises(LoginRefused):
        sessions.login(TOKEN, HERE)

    clock.now += FAILURE_WINDOW_SECONDS + 1

    assert sessions.get(sessions.login(TOKEN, HERE).id) is not None


def test_a_good_login_forgets_earlier_failures(sessions: Sessions) -> None:
    fail(sessions, HERE, MAX_FAILURES - 1)
    sessions.login(TOKEN, HERE)

    fail(sessions, HERE, MAX_FAILURES - 1)  # would throttle if the first four still counted

    assert sessions.get(sessions.login(TOKEN, HERE).id) is not None


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
