"""Logging in to the status page with the ECR token (no I/O, clock injected).

The token is the one secret the technician already has on the till; a login trades it for a random
session id in an HttpOnly, SameSite=Strict cookie, so the token itself never sits in the browser.
Forms carry a per-session CSRF value as well. Failed logins are throttled per address.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

SESSION_COOKIE = "posagent_session"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 32
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str
    expires_at: float


class LoginRefused(Exception):
    """Wrong token, or too many wrong tokens from this address (then `retry_after` is set)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sessions:
    def __init__(self, token: str, *, ttl: float = SESSION_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._token = token.encode()
        self.ttl = ttl
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, deque[float]] = {}

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.strip().encode(), self._token)

    def bearer_ok(self, authorization: str | None) -> bool:
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value)

    def login(self, candidate: str, peer: str) -> Session:
        now = self.clock()
        self._forget_failures(now)
        failures = self._failures.setdefault(peer, deque(maxlen=MAX_FAILURES))
        while failures and failures[0] < now - FAILURE_WINDOW_SECONDS:
            failures.popleft()
        if len(failures) >= MAX_FAILURES:
            wait = failures[0] + FAILURE_WINDOW_SECONDS - now
            raise LoginRefused(f"too many wrong tokens: wait {max(1.0, wait):.0f} s", retry_after=max(0.0, wait))
        if not self.token_matches(candidate):
            failures.append(now)
            raise LoginRefused("wrong token")
        failures.clear()
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

    def _forget_failures(self, now: float) -> None:
        """Addresses whose last failure is older than the window are forgotten (memory stays bounded)."""
        cutoff = now - FAILURE_WINDOW_SECONDS
        stale = [peer for peer, times in self._failures.items() if not times or times[-1] < cutoff]
        for peer in stale:
            del self._failures[peer]

    def _expire(self, now: float) -> None:
        for session in [s for s in self._sessions.values() if s.expires_at <= now]:
            del self._sessions[session.id]


def session_cookie(session: Session | None, ttl: float = SESSION_SECONDS) -> str:
    if session is None:
        return f"{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    return f"{SESSION_COOKIE}={session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={int(ttl)}"


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(submitted.encode(), session.csrf.encode())
