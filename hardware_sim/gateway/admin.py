"""`GatewayAdmin`: drive a gateway simulator running in another process over its admin endpoints."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request, urlopen


class GatewayAdmin:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        """`base_url`: the simulator's root or its gateway URL (`.../gateway.do` is accepted)."""
        parts = urlsplit(base_url)
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def inspect(self) -> dict[str, Any]:
        return self._call("GET", "inspect")

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "faults")

    def set_faults(self, plan: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
        return self._call("PUT", "faults", {**(plan or {}), **settings})

    def outage(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "outage", {"seconds": seconds})

    def register_app(self, app_id: str, public_key_pem: str) -> dict[str, Any]:
        return self._call("POST", "apps", {"app_id": app_id, "public_key": public_key_pem})

    def register_cert_app(self, app_id: str, csr_pem: str) -> dict[str, Any]:
        """Certificate mode: the simulator issues the app certificate; the reply holds the SNs and the three files."""
        return self._call("POST", "cert-apps", {"app_id": app_id, "csr": csr_pem})

    def alipay_cert(self) -> dict[str, Any]:
        return self._call("GET", "alipay-cert")

    def rotate_alipay_cert(self) -> dict[str, Any]:
        return self._call("POST", "alipay-cert/rotate", {})

    def authorize_isv(
        self,
        isv_app_id: str,
        auth_app_id: str,
        *,
        apis: list[str] | None = None,
        expires_in: float | None = None,
        app_auth_token: str | None = None,
    ) -> dict[str, Any]:
        """An ISV authorization (see GatewaySimulator.authorize_isv); the reply holds its app_auth_token."""
        payload: dict[str, Any] = {"isv_app_id": isv_app_id, "auth_app_id": auth_app_id, "apis": apis,
                                   "expires_in": expires_in, "app_auth_token": app_auth_token}  # fmt: skip
        return self._call("POST", "app_auths", payload)

    def _call(self, verb: str, name: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = Request(  # noqa: S310  (http to the simulator, by design)
            f"{self.base_url}/__admin/{name}", data=data, method=verb, headers={"Content-Type": "application/json"}
        )
        with urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read())
        return result
