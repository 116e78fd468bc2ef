"""Logging in to the status page with the ECR token (no I/O, clock injected).

The token is the one secret the technician already has on the till; a login trades it for a random
session id in an HttpOnly, SameSite=Strict cookie, so the token itself never sits in the browser.
Forms carry a per-session CSRF value as well.

Wrong tokens (at the log-in form, or as a Bearer on /metrics) are throttled without locking anybody
out: the token is compared first (in constant time) and the right one always logs in at once; the
answer to a wrong one is held back by a delay that grows with the client's recent failures
(`agent.guard.FailureThrottle`), which the HTTP shell serves from a pool of its own.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.guard import Failure, FailureThrottle, client_key

SESSION_COOKIE = "posagent_session"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 32


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str
    expires_at: float


class LoginRefused(Exception):
    """A wrong token; its answer is to be held back `failure.delay` seconds."""

    def __init__(self, message: str, failure: Failure) -> None:
        super().__init__(message)
        self.failure = failure


class Sessions:
    def __init__(self, token: str, *, ttl: float = SESSION_SECONDS, clock: Callable[[], float] = time.monotonic,
                 throttle: FailureThrottle | None = None) -> None:  # fmt: skip
        self._token = token.encode()
        self.ttl = ttl
        self.clock = clock
        self.throttle = throttle or FailureThrottle()
        self._sessions: dict[str, Session] = {}

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.strip().encode(), self._token)

    def bearer_ok(self, authorization: str | None) -> bool:
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value)

    def wrong_token(self, peer: str) -> Failure:
        """Record a wrong token from `peer` (an address); how long its answer is held back."""
        return self.throttle.failed(client_key(peer), self.clock())

    def login(self, candidate: str, peer: str) -> Session:
        """A new session for the right token, at once whatever came before; LoginRefused otherwise."""
        if not self.token_matches(candidate):
            raise LoginRefused("wrong token", self.wrong_token(peer))
        now = self.clock()
        self._expire(now)
        if len(self._sessions) >= MAX_SESSIONS:  # the oldest login goes first
            del self._sessions[min(self._sessions.values(), key=lambda s: s.expires_at).id]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(16), now + self.ttl)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None or session.expires_at <= self.clock():
            self._sessions.pop(session_id or "", None)
            return None
        return session

    def logout(self, session_id: str | None) -> None:
        self._sessions.pop(session_id or "", None)

    def _expire(self, now: float) -> None:
        for session in [s for s in self._sessions.values() if s.expires_at <= now]:
            del self._sessions[session.id]


def session_cookie(session: Session | None, ttl: float = SESSION_SECONDS) -> str:
    if session is None:
        return f"{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    return f"{SESSION_COOKIE}={session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={int(ttl)}"


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(submitted.encode(), session.csrf.encode())
