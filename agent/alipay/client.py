"""The HTTP shell around `OpenApiProtocol`: httpx, explicit timeouts, transport errors mapped to the model.

Whether a transport failure is retryable depends on whether the request may have reached Alipay.
Only a failure to *connect* (refused, DNS, TLS handshake, connect or pool timeout) proves that not a
byte was sent: `GatewayUnreachableError`. Anything after that (write or read failure, reset, read
timeout, truncated or oversized reply, any other surprise) is `NoAnswerError`: the outcome is unknown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx

from .apis.base import ApiRequest
from .certs import AlipayCert, CertificateError
from .envelope import PreparedRequest, utc_now
from .errors import AlipayError, GatewayUnreachableError, NoAnswerError, ResponseVerificationError
from .protocol import CERT_HINT, AlipayCertNeeded, Credentials, OpenApiProtocol

log = logging.getLogger(__name__)

# Told of each Alipay certificate trusted after a rotation, to keep it for the next start.
AlipayCertSink = Callable[[AlipayCert], None]

R = TypeVar("R")

# Alipay's replies are a few KiB; a larger one is not Alipay's, and is not read into memory.
MAX_REPLY_BYTES = 2 * 1024 * 1024


class ReplyTooLarge(Exception):
    pass


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The (decoded) body, refusing more than `limit` bytes, so a hostile peer cannot exhaust memory."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ReplyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)

def _body_kwargs(prepared: PreparedRequest, charset: str) -> dict[str, Any]:
    """The body as both official SDKs send it: a form declaring its charset
    (`application/x-www-form-urlencoded;charset=utf-8`), or for uploads multipart text parts typed
    `text/plain; charset=utf-8` ahead of the file parts."""
    if prepared.files:
        text_type = f"text/plain; charset={charset}"
        files: dict[str, tuple[str | None, bytes, str]] = {
            name: (None, value.encode(charset), text_type) for name, value in prepared.body.items()
        }
        files.update({name: (part.filename, part.content, part.content_type) for name, part in prepared.files.items()})
        return {"files": files}
    return {
        "content": urlencode(prepared.body, encoding=charset).encode("ascii"),
        "headers": {"Content-Type": f"application/x-www-form-urlencoded;charset={charset}"},
    }


# Told of every call: (method, outcome, seconds). Outcome is "success" or an AlipayError kind
# ("business_failure", "configuration_error", "retryable", "unreachable", "unknown_outcome", ...).
CallObserver = Callable[[str, str, float], None]


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `read` bounds the wait for Alipay's answer once the request is sent."""

    connect: float = 5.0
    read: float = 15.0
    write: float = 15.0
    pool: float = 5.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


class AlipayClient:
    """Calls the Alipay OpenAPI. One instance per app; safe to share across tasks of one event loop."""

    def __init__(
        self,
        credentials: Credentials,
        gateway_url: str = "production",
        *,
        timeouts: Timeouts | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utc_now,
        observer: CallObserver | None = None,
        cert_sink: AlipayCertSink | None = None,
    ) -> None:
        self.protocol = OpenApiProtocol(credentials, gateway_url)
        self.observer = observer
        self.cert_sink = cert_sink
        self._rotation = asyncio.Lock()  # one download per new Alipay certificate, however many calls wait
        self.timeouts = timeouts or Timeouts()
        self._clock = clock
        self._http = httpx.AsyncClient(
            timeout=self.timeouts.to_httpx(), transport=transport, follow_redirects=False, trust_env=False
        )

    @property
    def gateway_url(self) -> str:
        return self.protocol.gateway_url

    async def execute(self, request: ApiRequest[R], *, timeouts: Timeouts | None = None) -> R:
        started = time.monotonic()
        try:
            prepared = self.protocol.prepare(request, self._clock())
            status, body = await self._send(prepared, timeouts)
            result = await self._parse(request, status, body, timeouts)
        except AlipayError as exc:
            self._observe(request.METHOD, exc.kind, started)
            raise
        self._observe(request.METHOD, "success", started)
        return result

    async def _parse(self, request: ApiRequest[R], status: int, body: bytes, timeouts: Timeouts | None) -> R:
        try:
            return self.protocol.parse(request, status, body, now=self._clock())
        except AlipayCertNeeded as needed:
            # Alipay rotated its certificate: fetch the new one, trust it only if it chains, verify again.
            await self._learn_alipay_cert(request.METHOD, needed.sn, timeouts)
        try:
            return self.protocol.parse(request, status, body, now=self._clock())
        except AlipayCertNeeded:
            raise ResponseVerificationError("the reply's Alipay certificate is still unknown", method=request.METHOD,
                                            http_status=status) from None  # fmt: skip

    async def _learn_alipay_cert(self, method: str, sn: str, timeouts: Timeouts | None) -> None:
        """Download and check Alipay certificate `sn`. Any failure leaves the original call's reply
        unverified, so its outcome is unknown (never "not sent": that call did reach Alipay)."""
        async with self._rotation:
            if self.protocol.trusts(sn):
                return  # another call fetched it meanwhile
            try:
                download = self.protocol.prepare(self.protocol.download_request(sn), self._clock())
                status, body = await self._send(download, timeouts)
                cert = self.protocol.accept_alipay_cert(sn, status, body, self._clock())
            except Exception as exc:  # whatever went wrong, nothing but an AlipayError leaves execute()
                if isinstance(exc, AlipayError):
                    reason = exc.message
                else:
                    reason = str(exc) if isinstance(exc, CertificateError) else f"unreadable ({type(exc).__name__})"
                log.error("REFUSED Alipay certificate %s: %s; replies signed with it are not trusted", sn, reason)
                raise ResponseVerificationError(
                    f"the reply is signed with Alipay certificate {sn}, which is not trusted: {reason}",
                    method=method, http_status=200, hint=CERT_HINT,
                ) from None  # fmt: skip
        log.warning("Alipay rotated its certificate: %s is now trusted (chains to the root bundle, valid until "
                    "%s UTC)", cert.sn, f"{cert.not_after:%Y-%m-%d %H:%M}")  # fmt: skip
        if self.cert_sink is not None:
            try:
                self.cert_sink(cert)
            except OSError as exc:  # it stays trusted in memory; the next start downloads it again
                log.warning("could not keep Alipay certificate %s for the next start: %s", cert.sn, exc.strerror)

    def _observe(self, method: str, outcome: str, started: float) -> None:
        if self.observer is not None:
            self.observer(method, outcome, time.monotonic() - started)

    async def _send(self, prepared: PreparedRequest, timeouts: Timeouts | None) -> tuple[int, bytes]:
        method = prepared.method
        kwargs: dict[str, Any] = _body_kwargs(prepared, self.protocol.charset)
        if timeouts is not None:
            kwargs["timeout"] = timeouts.to_httpx()
        try:
            async with self._http.stream("POST", prepared.url, **kwargs) as response:
                return response.status_code, await _read_bounded(response, MAX_REPLY_BYTES)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise GatewayUnreachableError(f"gateway unreachable ({type(exc).__name__})", method=method) from None
        except ReplyTooLarge:
            raise ResponseVerificationError(
                f"reply larger than {MAX_REPLY_BYTES} bytes; the request may have been processed", method=method
            ) from None
        except httpx.TimeoutException as exc:
            raise NoAnswerError(
                f"no answer in time ({type(exc).__name__}); the request may have been processed", method=method
            ) from None
        except Exception as exc:  # reset, truncated reply, TLS or protocol surprises: all unknown
            raise NoAnswerError(
                f"connection lost ({type(exc).__name__}); the request may have been processed", method=method
            ) from None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AlipayClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
