"""The gateway's request pipeline, free of HTTP: parsed parameters in, response body bytes out.

Order of checks (each failure is the real code/sub_code): app_id present and known (else an
UNSIGNED reply, as the real gateway cannot tell whose key to trust), method present and known,
charset and format supported, sign_type, sign, timestamp and version present, signature valid,
timestamp within the allowed skew of China time, `app_auth_token` (if any) valid for this app and
method (isv.py); then the API handler runs in one state transaction."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from .apis import HANDLERS
from .apis.context import Context, JsonObject, Settings
from .certmode import CertMode
from .charsets import CHARSETS, reply_charset
from .chinatime import parse_china, utc_now
from .counters import Counters
from .envelope import render, response_key
from .errors import ApiError, missing
from .httpparse import ParsedRequest
from .isv import AppAuth, acting_app_id, authorize
from .keys import parse_public_key, public_pem
from .signing import SIGN_TYPES, sign_bytes, string_to_sign, verify_request
from .state import Store

log = logging.getLogger(__name__)

DEFAULT_MAX_CLOCK_SKEW = 900.0  # 15 min: the real tolerance is undocumented (reference §9)


@dataclass(frozen=True)
class Reply:
    body: bytes
    method: str
    code: str
    sub_code: str = ""


class Gateway:
    def __init__(
        self,
        store: Store,
        private_key: rsa.RSAPrivateKey,
        *,
        settings: Settings | None = None,
        max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
        clock: Callable[[], float] = utc_now,
        cert_mode: CertMode | None = None,
    ) -> None:
        self.store = store
        self.cert_mode = cert_mode or CertMode(store, clock=clock)
        self.private_key = private_key
        self.settings = settings or Settings()
        self.max_clock_skew = max_clock_skew
        self.clock = clock
        self.counters = Counters()
        # RSA PKCS#1 v1.5 is deterministic: identical reply bytes (every `{"code":"10000","msg":"Success"}`
        # of card.update, repeated queries of unchanged state) need signing once. Bounded memory.
        self._sign = functools.lru_cache(maxsize=4096)(self._sign_uncached)
        self._apps: dict[str, rsa.RSAPublicKey] = {}
        self._apps_lock = threading.Lock()

    # -- apps ---------------------------------------------------------------------------------------
    def register_app(self, app_id: str, public_key: str | bytes) -> None:
        """Trust `public_key` (PEM or Base64, see keys.parse_public_key) for requests from `app_id`."""
        if not app_id or len(app_id) > 32:
            raise ValueError("app_id must be 1-32 characters")
        key = parse_public_key(public_key)
        with self._apps_lock:
            self._apps[app_id] = key
        self.cert_mode.forget(app_id)

    def public_key_pem(self) -> str:
        """The Alipay public key merchants configure (not a secret: served by /__admin/health)."""
        return public_pem(self.private_key.public_key())

    def app_ids(self) -> list[str]:
        with self._apps_lock:
            return sorted(set(self._apps) | set(self.cert_mode.app_ids()))

    def authorize_isv(
        self,
        isv_app_id: str,
        auth_app_id: str,
        *,
        apis: list[str] | None = None,
        expires_in: float | None = None,
        app_auth_token: str | None = None,
    ) -> AppAuth:
        """Seed an ISV authorization (see isv.py); ValueError for bad arguments."""
        with self.store.transaction() as db:
            return authorize(
                db, isv_app_id=isv_app_id, auth_app_id=auth_app_id, known_methods=HANDLERS, now=self.clock(),
                apis=apis, expires_in=expires_in, app_auth_token=app_auth_token,
            )  # fmt: skip

    def _app_key(self, app_id: str) -> rsa.RSAPublicKey | None:
        cert_key = self.cert_mode.app_key(app_id)  # a cert-mode app: the key of its certificate
        if cert_key is not None:
            return cert_key
        with self._apps_lock:
            return self._apps.get(app_id)

    # -- pipeline -----------------------------------------------------------------------------------
    def handle(self, request: ParsedRequest, *, corrupt_sign: bool = False) -> Reply:
        params = request.params
        method = params.get("method", "")
        if method:
            self.counters.call(method)
        try:
            self._check(params)
            node = self._run(method, request)
        except ApiError as error:
            return self.error_reply(params, error, corrupt_sign=corrupt_sign)
        except Exception:  # a simulator bug must still answer like a gateway, never kill the thread
            log.exception("internal error in %s", method)
            return self.error_reply(params, ApiError("20000", "aop.unknow-error", "系统繁忙"))
        return self._reply(params, node, signed=True, corrupt_sign=corrupt_sign)

    def error_reply(self, params: dict[str, str], error: ApiError, *, corrupt_sign: bool = False) -> Reply:
        """A failure in the real placement; unsigned when the app is unknown."""
        signed = self._app_key(params.get("app_id", "")) is not None
        key_override = "error_response" if error.placement == "error_response" else None
        return self._reply(params, error.node(), signed=signed, corrupt_sign=corrupt_sign, key=key_override)

    def _reply(
        self,
        params: dict[str, str],
        node: JsonObject,
        *,
        signed: bool,
        corrupt_sign: bool,
        key: str | None = None,
    ) -> Reply:
        method = params.get("method", "")
        if key is None:
            key = response_key(method) if method in HANDLERS else "error_response"
        charset = reply_charset(params)
        sign_type = params.get("sign_type", "RSA2")
        sign_type = sign_type if sign_type in SIGN_TYPES else "RSA2"
        alipay_cert = self.cert_mode.reply_signer(params.get("app_id", "")) if signed else None

        def signer(content: bytes) -> str:
            if alipay_cert is not None:  # cert mode: the current Alipay certificate's key (not cached: it rotates)
                return sign_bytes(content, alipay_cert.key, sign_type)
            return self._sign(content, sign_type)

        body = render(
            key, node, charset=charset, signer=signer if signed else None, corrupt_sign=corrupt_sign,
            cert_sn=alipay_cert.sn if alipay_cert is not None else None,
        )  # fmt: skip
        code = str(node.get("code", "10000"))
        sub_code = str(node.get("sub_code", ""))
        log.info("%s -> %s %s", method or "(no method)", code, sub_code)
        return Reply(body=body, method=method, code=code, sub_code=sub_code)

    def _sign_uncached(self, content: bytes, sign_type: str) -> str:
        return sign_bytes(content, self.private_key, sign_type)

    def _check(self, params: dict[str, str]) -> None:
        app_id = params.get("app_id", "")
        if not app_id:
            raise missing("isv.missing-app-id", "app_id")
        public_key = self._app_key(app_id)
        if public_key is None:
            raise ApiError("40002", "isv.invalid-app-id", "无效的AppID参数")
        method = params.get("method", "")
        if not method:
            raise missing("isv.missing-method", "方法名")
        if method not in HANDLERS:
            raise ApiError("40002", "isv.invalid-method", "不存在的方法名")
        charset = params.get("charset", "utf-8").lower()
        if charset not in CHARSETS:
            raise ApiError("40002", "isv.invalid-charset", "字符集错误")
        if params.get("format", "json").lower() != "json":
            raise ApiError("40002", "isv.invalid-format", "无效的数据格式")
        sign_type = params.get("sign_type", "")
        if not sign_type:
            raise missing("isv.missing-signature-type", "签名类型")
        if sign_type not in SIGN_TYPES:
            raise ApiError("40002", "isv.invalid-signature-type", "无效的签名类型")
        if not params.get("sign"):
            raise missing("isv.missing-signature", "签名")
        if not params.get("timestamp"):
            raise missing("isv.missing-timestamp", "时间戳")
        if not params.get("version"):
            raise missing("isv.missing-version", "版本")
        self.cert_mode.check(app_id, params)
        if not verify_request(params, public_key, charset=charset):
            raise ApiError(
                "40002",
                "isv.invalid-signature",
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："
                + string_to_sign(params),  # exactly what was checked, as the real gateway echoes it
            )
        try:
            sent = parse_china(params["timestamp"])
        except ValueError:
            raise ApiError("40002", "isv.invalid-timestamp", "非法的时间戳参数: 格式应为yyyy-MM-dd HH:mm:ss") from None
        if abs(sent - self.clock()) > self.max_clock_skew:
            raise ApiError("40002", "isv.invalid-timestamp", "非法的时间戳参数: 与网关时间(北京时间)相差超过允许范围")

    def _run(self, method: str, request: ParsedRequest) -> JsonObject:
        handler = HANDLERS[method]
        with self.store.transaction() as db:
            ctx = Context(
                app_id=request.params["app_id"],
                method=method,
                params=request.params,
                now=self.clock(),
                db=db,
                counters=self.counters,
                settings=self.settings,
                files=request.files,
            )
            try:
                ctx.app_id = acting_app_id(db, request.params, ctx.now)  # the merchant's, in ISV mode
                node, failure = handler(ctx), None
            except ApiError as error:
                # Business failures are definite outcomes: what the handler recorded stays (commit).
                node, failure = {}, error
        if failure is not None:
            raise failure
        return node
