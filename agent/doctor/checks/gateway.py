"""The Alipay gateway: reachable, TLS fine, clock in step with it, and our signatures accepted.

`gateway` and `clock` use one plain GET of the gateway URL (any HTTP answer proves the route and
TLS; its `Date` header gives the gateway's time). `signature` sends a signed `alipay.trade.query`
for an order number that cannot exist: "trade not found" proves the gateway accepted the app
key's signature and its reply verified with Alipay's public key, without touching any real trade.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from agent.alipay import (
    AlipayClient,
    BusinessError,
    ConfigurationError,
    Credentials,
    ResponseVerificationError,
    Timeouts,
    TransientError,
    resolve_gateway,
)
from agent.alipay.apis import TradeQuery
from agent.alipay.keys import KeyFormatError, read_private_key_file, read_public_key_file
from agent.config import ConfigError, alipay_cert_store
from agent.config.load import load_cert_mode_credentials
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn

CLOCK_WARN_SECONDS = 300.0
CLOCK_FAIL_SECONDS = 900.0  # the gateway's tolerance (the simulator's default window)
NTP_FIX = "enable time sync: timedatectl set-ntp true (or fix the PC's clock and time zone in the BIOS)"


@dataclass(frozen=True)
class Probe:
    """One GET of the gateway URL: an answer (status, Date) or why there was none."""

    status: int | None = None
    date: str | None = None
    local_time: float = 0.0  # local clock at the middle of the exchange
    error: str | None = None
    tls_error: bool = False


def is_tls_error(exc: BaseException) -> bool:
    """httpx wraps ssl errors in ConnectError: look down the cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen) or "[SSL" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def probe_gateway(url: str, ctx: Context) -> Probe:
    timeout = httpx.Timeout(ctx.network_timeout)
    started = ctx.clock()
    try:
        with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        return Probe(error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                     tls_error=is_tls_error(exc))  # fmt: skip
    finished = ctx.clock()
    return Probe(response.status_code, response.headers.get("date"), (started + finished) / 2)


def judge_reachability(url: str, probe: Probe) -> Finding:
    if probe.error is None:
        return ok("gateway", f"{url} answers (HTTP {probe.status})")
    if probe.tls_error:
        return fail("gateway", f"TLS to {url} failed: {probe.error}",
                    "check the PC's clock and CA certificates (ca-certificates package); a proxy or firewall "
                    "that intercepts HTTPS must be bypassed for openapi.alipay.com")  # fmt: skip
    return fail("gateway", f"cannot reach {url}: {probe.error}",
                "check the internet line, DNS and firewall (outbound HTTPS to the gateway); the agent keeps "
                "must-not-lose work in the outbox meanwhile")  # fmt: skip


def clock_skew(date_header: str, local_time: float) -> float:
    """Seconds the local clock is ahead of the gateway's (negative: behind). ValueError if unparseable."""
    gateway_time = parsedate_to_datetime(date_header)
    if gateway_time.tzinfo is None:
        gateway_time = gateway_time.replace(tzinfo=UTC)
    return local_time - gateway_time.timestamp()


def judge_skew(skew: float) -> Finding:
    direction = "ahead of" if skew > 0 else "behind"
    text = f"the local clock is {abs(skew):.0f} s {direction} the gateway's"
    if abs(skew) > CLOCK_FAIL_SECONDS:
        return fail("clock", f"{text}: Alipay rejects requests (isv.invalid-timestamp)", NTP_FIX)
    if abs(skew) > CLOCK_WARN_SECONDS:
        return warn("clock", f"{text}: close to the {CLOCK_FAIL_SECONDS / 60:.0f} min Alipay tolerates", NTP_FIX)
    return ok("clock", text)


def gateway_url(ctx: Context) -> str:
    return resolve_gateway(ctx.agent_config.alipay.gateway)


def check_gateway(ctx: Context) -> list[Finding]:
    url = gateway_url(ctx)
    return [judge_reachability(url, probe_gateway(url, ctx))]


def check_clock(ctx: Context) -> list[Finding]:
    probe = probe_gateway(gateway_url(ctx), ctx)
    if probe.error is not None:
        return [warn("clock", "not checked: the gateway did not answer", "fix the gateway finding first")]
    if probe.date is None:
        return [warn("clock", "not checked: the gateway's answer has no Date header", NTP_FIX)]
    try:
        skew = clock_skew(probe.date, probe.local_time)
    except (TypeError, ValueError):
        return [warn("clock", "not checked: the gateway's Date header is not a date", NTP_FIX)]
    return [judge_skew(skew)]


# ---- signature ---------------------------------------------------------------------------------

NAME = "signature"
_PERMISSION_SUB_CODES = frozenset({"isv.insufficient-isv-permissions", "isv.insufficient-user-permissions"})


def judge_probe_error(error: Exception, *, cert_mode: bool = False) -> Finding:
    """What the answer to a signed probe says about the keys (pure)."""
    if isinstance(error, BusinessError):
        return ok(NAME, f"the gateway accepted the app key's signature and its reply verified "
                        f"({error.sub_code or error.code}: as expected for a made-up order)")  # fmt: skip
    if isinstance(error, ResponseVerificationError) and cert_mode:
        return fail(NAME, f"the gateway's reply does not verify in certificate mode: {error.message}",
                    "give the Alipay public-key certificate and root bundle of THIS app (from the console) as "
                    "alipay_cert_file and alipay_root_cert_file; see 'Certificate mode' in docs/operations.md",
                    )  # fmt: skip
    if isinstance(error, ResponseVerificationError):
        return fail(NAME, "the gateway's reply does not verify with alipay_public_key_file",
                    "save the 'Alipay public key' of THIS app (from the console) as alipay_public_key_file; "
                    "if it is right, something between this PC and Alipay altered the reply")  # fmt: skip
    if isinstance(error, ConfigurationError):
        if error.sub_code in _PERMISSION_SUB_CODES:
            return ok(NAME, "the gateway accepted the app key's signature (the probe API is not signed for; fine)")
        if error.sub_code == "isv.invalid-signature":
            return fail(NAME, "the gateway rejects the app key's signature (isv.invalid-signature)",
                        "the public key uploaded in the Alipay console is not this private key's: upload "
                        "this key's public half, or configure the matching private key")  # fmt: skip
        if error.sub_code == "isv.invalid-timestamp":
            return fail(NAME, "the gateway rejects the request time (isv.invalid-timestamp)", NTP_FIX)
        detail = f"{error.code or '-'}/{error.sub_code or '-'}"
        return fail(NAME, f"the gateway rejects this set-up ({detail}): {error.message}",
                    error.hint or "check app_id, gateway and keys against the Alipay console")  # fmt: skip
    if isinstance(error, TransientError):
        return warn(NAME, f"not checked: {error.message}", "fix the gateway finding first, then run again")
    return fail(NAME, f"unexpected answer: {type(error).__name__}: {error}")


def _credentials(ctx: Context) -> Credentials:
    alipay = ctx.agent_config.alipay
    private = read_private_key_file(alipay.app_private_key_file, check_mode=False)  # mode: key.app_private
    token = None
    if alipay.app_auth_token_file is not None:
        token = alipay.app_auth_token_file.read_text(encoding="utf-8").strip() or None
    if alipay.alipay_public_key_file is None:  # certificate mode: the certificates check says what is wrong
        return load_cert_mode_credentials(alipay, private, token, now=datetime.fromtimestamp(ctx.clock(), UTC),
                                          cert_store=alipay_cert_store(ctx.agent_config.paths.state_dir))  # fmt: skip
    public = read_public_key_file(alipay.alipay_public_key_file)
    return Credentials(alipay.app_id, private, public, token)


def check_signature(ctx: Context) -> list[Finding]:
    try:
        credentials = _credentials(ctx)
    except (KeyFormatError, OSError) as exc:
        return [fail(NAME, f"not checked: the keys cannot be loaded ({exc})", "fix the key.* findings first")]
    except ConfigError:
        return [fail(NAME, "not checked: the certificates cannot be used", "fix the certificates finding first")]
    alipay = ctx.agent_config.alipay
    timeouts = Timeouts(connect=min(alipay.connect_timeout, ctx.network_timeout),
                        read=min(alipay.read_timeout, ctx.network_timeout * 2))  # fmt: skip
    probe = TradeQuery(out_trade_no=f"DOCTOR{int(time.time())}{secrets.token_hex(4)}")

    def clock() -> datetime:  # the request's signed timestamp follows the local clock under test
        return datetime.fromtimestamp(ctx.clock(), UTC)

    async def ask() -> Finding:
        async with AlipayClient(credentials, alipay.gateway, timeouts=timeouts, clock=clock) as client:
            try:
                status = await client.execute(probe)
            except (BusinessError, ConfigurationError, TransientError) as exc:
                return judge_probe_error(exc, cert_mode=credentials.cert_mode is not None)
            return ok(NAME, f"the gateway accepted the signature (probe trade status {status.trade_status})")

    return [asyncio.run(ask())]
