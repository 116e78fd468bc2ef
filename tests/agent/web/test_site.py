"""The status page's routes, driven through `StatusSite.handle` with a fake source and real sessions."""

from __future__ import annotations

import asyncio
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from agent.guard import FailureThrottle
from agent.web.auth import SESSION_COOKIE, Sessions
from agent.web.hosts import AllowedHosts
from agent.web.http import Request, Response
from agent.web.site import ActionRefused, Changes, StatusSite, is_loopback
from agent.web.snapshot import Snapshot
from tests.agent.web.samples import snapshot

TOKEN = "tok"
HOST = "127.0.0.1:8765"
LAN_PEER = "10.0.0.5"
METRICS = b"# HELP posagent_up 1 when running\nposagent_up 1\n"
SLIP = '<div class="slip"><p class="title">Latest slip</p></div>'


class FakeSource:
    """A StatusSource that records what the site asked of it."""

    def __init__(self) -> None:
        self.state: Snapshot = snapshot()
        self.snapshots = 0
        self.retried: list[int] = []
        self.retry_answer = True
        self.test_prints = 0
        self.refuse_test_print: str | None = None
        self.slips: dict[str | None, str] = {None: SLIP, "p-41": '<div class="slip"><p>slip p-41</p></div>'}

    async def snapshot(self) -> Snapshot:
        self.snapshots += 1
        return self.state

    def slip(self, job_id: str | None) -> str | None:
        return self.slips.get(job_id)

    async def retry_dead_job(self, job_id: int) -> bool:
        self.retried.append(job_id)
        return self.retry_answer

    async def test_print(self) -> str:
        if self.refuse_test_print is not None:
            raise ActionRefused(self.refuse_test_print)
        self.test_prints += 1
        return "p-43"

    def metrics(self) -> bytes:
        return METRICS


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def sessions() -> Sessions:
    return Sessions(TOKEN, throttle=FailureThrottle(free=3, first_delay=1.0, global_free=1000))


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def site(source: FakeSource, sessions: Sessions, changes: Changes) -> StatusSite:
    return StatusSite(source, sessions, changes)


def request(method: str, path: str, *, query: dict[str, str] | None = None, form: dict[str, str] | None = None,
            cookie: str | None = None, headers: dict[str, str] | None = None, peer: str = "127.0.0.1") -> Request:  # fmt: skip
    all_headers = {"host": HOST}
    body = b""
    if form is not None:
        all_headers["content-type"] = "application/x-www-form-urlencoded"
        body = urlencode(form).encode()
    if cookie is not None:
        all_headers["cookie"] = f"{SESSION_COOKIE}={cookie}"
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    return Request(method, path, query or {}, all_headers, body, peer)


def header(response: Response, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


def text(response: Response) -> str:
    return response.body.decode()


async def log_in(site: StatusSite) -> tuple[str, str]:
    """(session id, csrf) after a successful log-in through the form."""
    response = await site.handle(request("POST", "/login", form={"token": TOKEN}))
    jar: SimpleCookie = SimpleCookie()
    jar.load(header(response, "Set-Cookie") or "")
    session = site.sessions.get(jar[SESSION_COOKIE].value)
    assert session is not None
    return session.id, session.csrf


# --- log-in ----------------------------------------------------------------------------------------


async def test_the_page_without_a_session_redirects_to_the_login(site: StatusSite, source: FakeSource) -> None:
    response = await site.handle(request("GET", "/"))

    assert response.status == 303 and header(response, "Location") == "/login"
    assert source.snapshots == 0


async def test_a_forged_session_cookie_is_no_session(site: StatusSite) -> None:
    response = await site.handle(request("GET", "/", cookie="forged"))

    assert response.status == 303 and header(response, "Location") == "/login"


async def test_the_login_form_is_served_without_a_session(site: StatusSite) -> None:
    response = await site.handle(request("GET", "/login"))

    assert response.status == 200
    assert 'name="token"' in text(response) and 'type="password"' in text(response)


async def test_the_right_token_logs_in_with_a_session_cookie(site: StatusSite, sessions: Sessions) -> None:
    response = await site.handle(request("POST", "/login", form={"token": TOKEN}))

    assert response.status == 303 and header(response, "Location") == "/"
    cookie = header(response, "Set-Cookie") or ""
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert sessions.get(cookie.split(";")[0].split("=", 1)[1]) is not None
    assert TOKEN not in cookie


async def test_a_wrong_token_is_401_with_the_form_and_a_message(site: StatusSite) -> None:
    response = await site.handle(request("POST", "/login", form={"token": "nope"}))

    assert response.status == 401
    assert header(response, "Set-Cookie") is None
    assert "wrong token" in text(response) and 'name="token"' in text(response)
    assert "nope" not in text(response)


async def test_repeated_wrong_tokens_are_answered_later_and_later(site: StatusSite) -> None:
    holds = []
    for _ in range(6):
        response = await site.handle(request("POST", "/login", form={"token": "nope"}, peer=LAN_PEER))
        assert response.status == 401 and "wrong token" in text(response)
        holds.append(response.hold)

    assert holds == [0, 0, 0, 1, 2, 4]


async def test_the_right_token_logs_in_at_once_after_many_wrong_ones(site: StatusSite) -> None:
    for _ in range(20):
        await site.handle(request("POST", "/login", form={"token": "nope"}))

    response = await site.handle(request("POST", "/login", form={"token": TOKEN}))

    assert response.status == 303 and response.hold == 0 and header(response, "Set-Cookie")


async def test_a_log_in_through_a_rebound_name_is_refused(site: StatusSite) -> None:
    """DNS rebinding: the browser's Origin and Host agree, but they name the attacker's site."""
    rebound = {"Host": "evil.example:8765", "Origin": "http://evil.example:8765"}

    response = await site.handle(request("POST", "/login", form={"token": TOKEN}, headers=rebound))

    assert response.status == 403 and header(response, "Set-Cookie") is None


async def test_a_log_in_through_a_configured_name_is_accepted(source: FakeSource, sessions: Sessions) -> None:
    site = StatusSite(source, sessions, Changes(), hosts=AllowedHosts(["till-3.shop.lan"]))
    named = {"Host": "till-3.shop.lan:7412", "Origin": "http://till-3.shop.lan:7412"}

    response = await site.handle(request("POST", "/login", form={"token": TOKEN}, headers=named))

    assert response.status == 303


async def test_a_cross_site_login_is_refused(site: StatusSite) -> None:
    response = await site.handle(
        request("POST", "/login", form={"token": TOKEN}, headers={"Origin": "https://evil.example"})
    )

    assert response.status == 403 and header(response, "Set-Cookie") is None


async def test_logout_with_csrf_ends_the_session(site: StatusSite, sessions: Sessions) -> None:
    session_id, csrf = await log_in(site)

    response = await site.handle(request("POST", "/logout", form={"csrf": csrf}, cookie=session_id))

    assert response.status == 303 and header(response, "Location") == "/login"
    assert "Max-Age=0" in (header(response, "Set-Cookie") or "")
    assert sessions.get(session_id) is None


async def test_logout_without_csrf_keeps_the_session(site: StatusSite, sessions: Sessions) -> None:
    session_id, _ = await log_in(site)

    await site.handle(request("POST", "/logout", form={}, cookie=session_id))

    assert sessions.get(session_id) is not None


# --- the page --------------------------------------------------------------------------------------


async def test_the_page_shows_the_snapshot(site: StatusSite, source: FakeSource, changes: Changes) -> None:
    session_id, csrf = await log_in(site)

    response = await site.handle(request("GET", "/", cookie=session_id))

    assert response.status == 200 and response.content_type.startswith("text/html")
    page = text(response)
    for value in ("Store Nanjing Road 12", "1.2.3", "printer-front", "scanner-1", "ACQ.SYSTEM_ERROR from Alipay",
                  "gateway timed out after 10 s", "28**************12", "Latest slip", csrf):  # fmt: skip
        assert value in page
    assert f'data-version="{changes.version}"' in page
    assert source.snapshots == 1


async def test_the_notice_of_a_done_action_is_shown(site: StatusSite) -> None:
    session_id, _ = await log_in(site)

    response = await site.handle(request("GET", "/", query={"done": "retried", "job": "7"}, cookie=session_id))

    assert "Job 7 is back in the queue" in text(response)


@pytest.mark.parametrize(
    "query",
    [{"done": "hacked", "job": "7"}, {"done": "retried", "job": "<script>alert(1)</script>"},
     {"done": "retried", "job": "7 onmouseover=x"}, {"done": "retried"}],
)  # fmt: skip
async def test_no_notice_for_unknown_actions_or_odd_job_ids(site: StatusSite, query: dict[str, str]) -> None:
    session_id, _ = await log_in(site)

    page = text(await site.handle(request("GET", "/", query=query, cookie=session_id)))

    assert 'class="notice"' not in page
    assert "alert(1)" not in page and "back in the queue" not in page


async def test_the_panel_waits_for_the_next_change(site: StatusSite, changes: Changes) -> None:
    session_id, csrf = await log_in(site)
    before = changes.version

    poll = asyncio.create_task(site.handle(request("GET", "/panel", query={"after": str(before)}, cookie=session_id)))
    await asyncio.sleep(0.05)
    assert not poll.done()  # nothing changed yet: still waiting

    async def bump_later() -> None:
        await asyncio.sleep(0.01)
        changes.bump()

    await asyncio.gather(bump_later(), asyncio.wait_for(poll, 5))

    response = poll.result()
    assert response.status == 200
    assert header(response, "X-Version") == str(before + 1)
    assert csrf in text(response) and "printer-front" in text(response)


async def test_the_panel_answers_at_once_when_the_browser_is_behind(site: StatusSite, changes: Changes) -> None:
    session_id, _ = await log_in(site)
    changes.bump()
    changes.bump()

    response = await asyncio.wait_for(site.handle(request("GET", "/panel", query={"after": "1"}, cookie=session_id)), 5)

    assert response.status == 200 and header(response, "X-Version") == str(changes.version) == "3"


async def test_the_panel_without_a_session_is_401_at_once(site: StatusSite, source: FakeSource) -> None:
    response = await site.handle(request("GET", "/panel", query={"after": "1"}))

    assert response.status == 401
    assert source.snapshots == 0


async def test_the_panel_with_a_bad_after_is_400(site: StatusSite) -> None:
    session_id, _ = await log_in(site)

    response = await site.handle(request("GET", "/panel", query={"after": "x"}, cookie=session_id))

    assert response.status == 400


# --- buttons ---------------------------------------------------------------------------------------


async def test_retry_with_csrf_retries_the_job_and_says_so(site: StatusSite, source: FakeSource) -> None:
    session_id, csrf = await log_in(site)

    response = await site.handle(
        request("POST", "/outbox/retry", form={"csrf": csrf, "job_id": "12"}, cookie=session_id)
    )

    assert source.retried == [12]
    assert response.status == 303 and header(response, "Location") == "/?done=retried&job=12"


async def test_retry_of_a_job_that_is_not_dead_says_so(site: StatusSite, source: FakeSource) -> None:
    session_id, csrf = await log_in(site)
    source.retry_answer = False

    response = await site.handle(
        request("POST", "/outbox/retry", form={"csrf": csrf, "job_id": "12"}, cookie=session_id)
    )

    assert header(response, "Location") == "/?done=not_dead&job=12"


@pytest.mark.parametrize("form", [{"job_id": "12"}, {"job_id": "12", "csrf": ""}, {"job_id": "12", "csrf": "stale"}])
async def test_retry_without_the_right_csrf_is_403_and_does_nothing(
    site: StatusSite, source: FakeSource, form: dict[str, str]
) -> None:
    session_id, _ = await log_in(site)

    response = await site.handle(request("POST", "/outbox/retry", form=form, cookie=session_id))

    assert response.status == 403
    assert source.retried == []


async def test_retry_with_another_sessions_csrf_is_403(site: StatusSite, source: FakeSource) -> None:
    session_id, _ = await log_in(site)
    _, other_csrf = await log_in(site)

    response = await site.handle(
        request("POST", "/outbox/retry", form={"csrf": other_csrf, "job_id": "12"}, cookie=session_id)
    )

    assert response.status == 403 and source.retried == []


async def test_retry_from_another_site_is_403_even_with_csrf(site: StatusSite, source: FakeSource) -> None:
    session_id, csrf = await log_in(site)

    response = await site.handle(request("POST", "/outbox/retry", form={"csrf": csrf, "job_id": "12"}, cookie=session_id,
                                         headers={"Origin": "http://evil.example"}))  # fmt: skip

    assert response.status == 403 and source.retried == []


async def test_retry_from_this_site_with_an_origin_header_is_accepted(site: StatusSite, source: FakeSource) -> None:
    session_id, csrf = await log_in(site)

    response = await site.handle(request("POST", "/outbox/retry", form={"csrf": csrf, "job_id": "12"}, cookie=session_id,
                                         headers={"Origin": f"http://{HOST}"}))  # fmt: skip

    assert response.status == 303 and source.retried == [12]


async def test_retry_without_a_session_goes_to_the_login(site: StatusSite, source: FakeSource) -> None:
    response = await site.handle(request("POST", "/outbox/retry", form={"csrf": "x", "job_id": "12"}))

    assert response.status == 303 and header(response, "Location") == "/login"
    assert source.retried == []


@pytest.mark.parametrize("job_id", ["", "abc", "-1", "1.5", "12; drop", " 12"])
async def test_retry_needs_a_job_number(site: StatusSite, source: FakeSource, job_id: str) -> None:
    session_id, csrf = await log_in(site)

    response = await site.handle(
        request("POST", "/outbox/retry", form={"csrf": csrf, "job_id": job_id}, cookie=session_id)
    )

    assert response.status == 400 and source.retried == []


# Arabic-Indic 12, superscript 2, full-width 12
@pytest.mark.parametrize("job_id", ["\u0661\u0662", "\u00b2", "\uff11\uff12"])
async def test_retry_needs_an_ascii_job_number(site: StatusSite, source: FakeSource, job_id: str) -> None:
    """str.isdigit() is true for these, but they are no job number (int() even raises on "²")."""
    session_id, csrf = await log_in(site)

    response = await site.handle(
        request("POST", "/outbox/retry", form={"csrf": csrf, "job_id": job_id}, cookie=session_id)
    )

    assert response.status == 400 and source.retried == []


async def test_test_print_sends_a_slip_and_says_so(site: StatusSite, source: FakeSource) -> None:
    session_id, csrf = await log_in(site)

    response = await site.handle(request("POST", "/print/test", form={"csrf": csrf}, cookie=session_id))

    assert source.test_prints == 1
    assert response.status == 303 and header(response, "Location") == "/?done=test_print&job=p-43"


async def test_test_print_without_csrf_is_403(site: StatusSite, source: FakeSource) -> None:
    session_id, _ = await log_in(site)

    response = await site.handle(request("POST", "/print/test", form={}, cookie=session_id))

    assert response.status == 403 and source.test_prints == 0


async def test_a_refused_test_print_is_409_with_the_reason(site: StatusSite, source: FakeSource) -> None:
    session_id, csrf = await log_in(site)
    source.refuse_test_print = "no printer <configured>"

    response = await site.handle(request("POST", "/print/test", form={"csrf": csrf}, cookie=session_id))

    assert response.status == 409
    assert "no printer &lt;configured&gt;" in text(response)


# --- slips, metrics, odds and ends -----------------------------------------------------------------


async def test_a_kept_slip_is_shown(site: StatusSite) -> None:
    session_id, _ = await log_in(site)

    response = await site.handle(request("GET", "/slips/p-41", cookie=session_id))

    assert response.status == 200 and "slip p-41" in text(response)


async def test_an_unknown_slip_is_404(site: StatusSite) -> None:
    session_id, _ = await log_in(site)

    response = await site.handle(request("GET", "/slips/p-999", cookie=session_id))

    assert response.status == 404


async def test_slips_need_a_session(site: StatusSite) -> None:
    response = await site.handle(request("GET", "/slips/p-41"))

    assert response.status == 303 and header(response, "Location") == "/login"


async def test_metrics_are_open_on_loopback(site: StatusSite) -> None:
    for peer in ("127.0.0.1", "::1"):
        response = await site.handle(request("GET", "/metrics", peer=peer))

        assert response.status == 200 and response.body == METRICS
        assert response.content_type.startswith("text/plain")


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_peers(peer: str) -> None:
    """A status page bound to "::" (dual stack) sees local IPv4 clients as ::ffff:127.0.0.1."""
    assert is_loopback(peer)


@pytest.mark.parametrize("peer", ["10.0.0.5", "::ffff:10.0.0.5", "fe80::1%eth0", "unix", ""])
def test_other_peers_are_not_loopback(peer: str) -> None:
    assert not is_loopback(peer)


async def test_metrics_from_the_lan_need_the_token(site: StatusSite) -> None:
    response = await site.handle(request("GET", "/metrics", peer=LAN_PEER))

    assert response.status == 401 and METRICS not in response.body
    assert (header(response, "WWW-Authenticate") or "").startswith("Bearer")


async def test_metrics_from_the_lan_with_a_wrong_token_are_401(site: StatusSite) -> None:
    response = await site.handle(request("GET", "/metrics", headers={"Authorization": "Bearer nope"}, peer=LAN_PEER))

    assert response.status == 401


async def test_wrong_bearer_tokens_on_metrics_are_held_back_like_wrong_log_ins(site: StatusSite) -> None:
    wrong = {"Authorization": "Bearer nope"}
    holds = [(await site.handle(request("GET", "/metrics", headers=wrong, peer=LAN_PEER))).hold for _ in range(5)]
    right = await site.handle(request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, peer=LAN_PEER))

    assert holds == [0, 0, 0, 1, 2]
    assert right.status == 200 and right.hold == 0


async def test_metrics_from_the_lan_with_the_bearer_token(site: StatusSite) -> None:
    response = await site.handle(
        request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, peer=LAN_PEER)
    )

    assert response.status == 200 and response.body == METRICS


async def test_metrics_with_a_session_cookie(site: StatusSite) -> None:
    session_id, _ = await log_in(site)

    response = await site.handle(request("GET", "/metrics", cookie=session_id, peer=LAN_PEER))

    assert response.status == 200


async def test_metrics_can_require_the_token_on_loopback_too(source: FakeSource, sessions: Sessions) -> None:
    site = StatusSite(source, sessions, Changes(), metrics_need_token=True)

    closed = await site.handle(request("GET", "/metrics"))
    opened = await site.handle(request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}))

    assert closed.status == 401 and opened.status == 200


async def test_healthz_needs_no_login(site: StatusSite) -> None:
    response = await site.handle(request("GET", "/healthz", peer=LAN_PEER))

    assert response.status == 200 and response.body.strip() == b"ok"


async def test_the_script_is_served_as_javascript(site: StatusSite) -> None:
    response = await site.handle(request("GET", "/live.js"))

    assert response.status == 200 and response.content_type.startswith("text/javascript")
    assert b"panel?after=" in response.body


@pytest.mark.parametrize("path", ["/nope", "/login/", "/admin", "/slipsx"])
async def test_an_unknown_path_is_404(site: StatusSite, path: str) -> None:
    assert (await site.handle(request("GET", path))).status == 404


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/healthz"), ("GET", "/outbox/retry"), ("PUT", "/"), ("DELETE", "/login")]
)
async def test_a_wrong_method_on_a_known_path_is_405(
    site: StatusSite, source: FakeSource, method: str, path: str
) -> None:
    assert (await site.handle(request(method, path))).status == 405
    assert source.retried == []
