"""The status page's routes: log-in, the page and its live panel, the two buttons, slips, metrics.

    GET  /            the page (log-in first)          GET  /panel?after=N  the live part, long-polled
    GET  /login       the form; POST /login the token  POST /logout
    POST /outbox/retry  a dead job back to pending     POST /print/test     a self-test slip
    GET  /slips/ID    a print job's slip               GET  /metrics        Prometheus text
    GET  /live.js     the page's few lines of script   GET  /healthz        "ok", no log-in

Buttons are plain forms (they work without JavaScript), checked three ways: the session cookie
(SameSite=Strict), the session's CSRF value, and the Origin header when the browser sends one (it
must be this site under a name `AllowedHosts` accepts; the HTTP shell has already refused any other
Host). Answers to wrong tokens (log-in form, Bearer on /metrics) are held back (`Response.hold`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST

from . import pages
from .auth import SESSION_COOKIE, LoginRefused, Session, Sessions, csrf_ok, session_cookie
from .hosts import AllowedHosts
from .http import HttpServer, Request, Response
from .snapshot import Snapshot

log = logging.getLogger(__name__)

LONG_POLL_SECONDS = 25.0
BURST_SECONDS = 0.1  # changes that come together are sent together

NOTICES = {
    "retried": "Job {job} is back in the queue and will be sent again.",
    "not_dead": "Job {job} was not dead any more: nothing to retry.",
    "test_print": "Test slip sent to the printer as job {job}; it appears under Print jobs.",
}


class ActionRefused(Exception):
    """A button whose action cannot be done now (no printer...): the message is shown on the page."""


class StatusSource(Protocol):
    async def snapshot(self) -> Snapshot: ...

    def slip(self, job_id: str | None) -> str | None: ...  # a job's slip as HTML (None: the latest)

    async def retry_dead_job(self, job_id: int) -> bool: ...

    async def test_print(self) -> str: ...  # the print job's id

    def metrics(self) -> bytes: ...  # Prometheus text; called in a thread


class Changes:
    """A version number that goes up when anything on the page changes; long polls wait on it."""

    def __init__(self) -> None:
        self.version = 1
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, after: int, timeout: float) -> int:
        if self.version == after:
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), timeout)
                await asyncio.sleep(BURST_SECONDS)
            except TimeoutError:
                pass
        return self.version


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
        mapped = getattr(address, "ipv4_mapped", None)  # a dual-stack listener sees 127.0.0.1 as ::ffff:127.0.0.1
        return (mapped or address).is_loopback
    except ValueError:
        return False


class StatusSite:
    def __init__(self, source: StatusSource, sessions: Sessions, changes: Changes, *,
                 metrics_need_token: bool = False, hosts: AllowedHosts | None = None) -> None:  # fmt: skip
        self.source = source
        self.hosts = hosts or AllowedHosts()
        self.sessions = sessions
        self.changes = changes
        self.metrics_need_token = metrics_need_token
        self._routes: dict[tuple[str, str], Callable[[Request], Awaitable[Response]]] = {
            ("GET", "/"): self._page, ("GET", "/panel"): self._panel,
            ("GET", "/login"): self._login_form, ("POST", "/login"): self._login, ("POST", "/logout"): self._logout,
            ("POST", "/outbox/retry"): self._retry, ("POST", "/print/test"): self._test_print,
            ("GET", "/metrics"): self._metrics, ("GET", "/live.js"): self._script, ("GET", "/healthz"): self._health,
        }  # fmt: skip

    async def handle(self, request: Request) -> Response:
        route = self._routes.get((request.method, request.path))
        if route is None and request.method == "GET" and request.path.startswith("/slips/"):
            route = self._slip
        if route is None:
            known = any(path == request.path for _, path in self._routes)
            return Response.text(HTTPStatus.METHOD_NOT_ALLOWED if known else HTTPStatus.NOT_FOUND,
                                 "method not allowed" if known else "not found")  # fmt: skip
        return await route(request)

    # --- log-in ---------------------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookie(SESSION_COOKIE))

    async def _login_form(self, request: Request) -> Response:
        return Response(HTTPStatus.OK, pages.login_page().encode())

    async def _login(self, request: Request) -> Response:
        if not self._same_origin(request):
            return Response.text(HTTPStatus.FORBIDDEN, "cross-site log-in refused")
        try:
            session = self.sessions.login(request.form().get("token", ""), request.peer)
        except LoginRefused as exc:
            failure = exc.failure
            if failure.worth_logging:
                log.warning("status page: wrong token from %s (%d in the last minutes; answers now held %.0f s)",
                            request.peer, failure.count, failure.delay)  # fmt: skip
            return Response(HTTPStatus.UNAUTHORIZED, pages.login_page(str(exc)).encode(), hold=failure.delay)
        log.info("status page: logged in from %s", request.peer)
        return Response(HTTPStatus.SEE_OTHER, b"", headers=[("Location", "/"), ("Set-Cookie", session_cookie(session))])

    async def _logout(self, request: Request) -> Response:
        session = self._session(request)
        if session is not None and self._same_origin(request) and csrf_ok(session, request.form().get("csrf")):
            self.sessions.logout(session.id)
        return Response(
            HTTPStatus.SEE_OTHER, b"", headers=[("Location", "/login"), ("Set-Cookie", session_cookie(None))]
        )

    # --- the page -------------------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return Response.redirect("/login")
        version = self.changes.version
        snapshot = await self.source.snapshot()
        notice = _notice(request.query)
        html = pages.status_page(snapshot, csrf=session.csrf, version=version, notice=notice,
                                 slip_html=self.source.slip(None) or "")  # fmt: skip
        return Response(HTTPStatus.OK, html.encode())

    async def _panel(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return Response.text(HTTPStatus.UNAUTHORIZED, "log in again")
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return Response.text(HTTPStatus.BAD_REQUEST, "after must be a number")
        version = await self.changes.wait(after, LONG_POLL_SECONDS)
        snapshot = await self.source.snapshot()
        html = pages.panel(snapshot, csrf=session.csrf, slip_html=self.source.slip(None) or "")
        return Response(HTTPStatus.OK, html.encode(), headers=[("X-Version", str(version))])

    async def _slip(self, request: Request) -> Response:
        if self._session(request) is None:
            return Response.redirect("/login")
        job_id = request.path.removeprefix("/slips/")
        slip = self.source.slip(job_id)
        if slip is None:
            return Response.text(HTTPStatus.NOT_FOUND, "no slip kept for this print job")
        return Response(HTTPStatus.OK, pages.slip_page(job_id, slip).encode())

    # --- buttons --------------------------------------------------------------------------------

    def _action_session(self, request: Request) -> Session | Response:
        session = self._session(request)
        if session is None:
            return Response.redirect("/login")
        if not self._same_origin(request) or not csrf_ok(session, request.form().get("csrf")):
            return Response.text(HTTPStatus.FORBIDDEN, "this form is stale or came from another site: reload the page")
        return session

    async def _retry(self, request: Request) -> Response:
        checked = self._action_session(request)
        if isinstance(checked, Response):
            return checked
        job = request.form().get("job_id", "")
        if not (job.isascii() and job.isdigit()) or len(job) > 18:
            return Response.text(HTTPStatus.BAD_REQUEST, "job_id must be a job number")
        retried = await self.source.retry_dead_job(int(job))
        log.info("status page: dead job %s %s", job, "retried" if retried else "was not dead")
        return Response.redirect(f"/?done={'retried' if retried else 'not_dead'}&job={job}")

    async def _test_print(self, request: Request) -> Response:
        checked = self._action_session(request)
        if isinstance(checked, Response):
            return checked
        try:
            job = await self.source.test_print()
        except ActionRefused as exc:
            return Response(HTTPStatus.CONFLICT, pages.message_page("Test print not sent", str(exc)).encode())
        log.info("status page: test print %s", job)
        return Response.redirect(f"/?done=test_print&job={job}")

    def _same_origin(self, request: Request) -> bool:
        """Browsers send Origin on form posts; when they do, it must be this site under an accepted name."""
        return self.hosts.same_origin(request.headers.get("origin"), request.headers.get("host"))

    # --- for tools ------------------------------------------------------------------------------

    async def _metrics(self, request: Request) -> Response:
        open_here = is_loopback(request.peer) and not self.metrics_need_token
        authorization = request.headers.get("authorization")
        if not (open_here or self.sessions.bearer_ok(authorization) or self._session(request) is not None):
            # A wrong token is a guess like a wrong log-in: its answer is held back the same way.
            hold = self.sessions.wrong_token(request.peer).delay if authorization else 0.0
            return Response(HTTPStatus.UNAUTHORIZED, b"token required\n", "text/plain; charset=utf-8",
                            [("WWW-Authenticate", 'Bearer realm="posagent"')], hold=hold)  # fmt: skip
        return Response(HTTPStatus.OK, await asyncio.to_thread(self.source.metrics), CONTENT_TYPE_LATEST)

    async def _script(self, request: Request) -> Response:
        return Response(HTTPStatus.OK, pages.LIVE_JS.encode(), "text/javascript; charset=utf-8")

    async def _health(self, request: Request) -> Response:
        return Response.text(HTTPStatus.OK, "ok\n")


def status_server(site: StatusSite, host: str, port: int) -> HttpServer:
    """The status page's listener: the shell with its default limits, refusing Host names `site` does not accept."""
    return HttpServer(host, port, site.handle, hosts=site.hosts, name="status page")


def _notice(query: dict[str, str]) -> str:
    template = NOTICES.get(query.get("done", ""))
    job = query.get("job", "")
    if template is None or not (job.isascii() and job.replace("-", "").isalnum()) or len(job) > 64:
        return ""
    return template.format(job=job)
