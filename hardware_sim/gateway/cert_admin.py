"""Admin routes of certificate mode (loopback-only, like every /__admin/ route).

POST /__admin/cert-apps            {"app_id": ..., "csr": PEM} -> CertFiles.to_dict()
GET  /__admin/alipay-cert          -> {"alipay_cert_sn", "alipay_cert_sns", "alipay_root_cert_sn", "files"}
POST /__admin/alipay-cert/rotate   -> the same, after rotation"""

from __future__ import annotations

from typing import Any

from .certmode import ALIPAY_CERT_FILE, ROOT_BUNDLE_FILE, CertMode


def route(cert_mode: CertMode, verb: str, name: str, payload: Any) -> dict[str, Any] | None:
    """The reply for a cert-mode admin route, or None when (verb, name) is not one. Bad input: ValueError."""
    if (verb, name) == ("POST", "cert-apps"):
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        return cert_mode.register(str(payload.get("app_id", "")), str(payload.get("csr", ""))).to_dict()
    if (verb, name) == ("GET", "alipay-cert"):
        return alipay_cert_state(cert_mode)
    if (verb, name) == ("POST", "alipay-cert/rotate"):
        cert_mode.rotate()
        return alipay_cert_state(cert_mode)
    return None


def alipay_cert_state(cert_mode: CertMode) -> dict[str, Any]:
    current = cert_mode.current_alipay_cert()
    return {
        "alipay_cert_sn": current.sn,
        "alipay_cert_sns": cert_mode.alipay_cert_sns(),
        "alipay_root_cert_sn": cert_mode.root_cert_sn(),
        "files": {ALIPAY_CERT_FILE: current.file_text, ROOT_BUNDLE_FILE: cert_mode.root_bundle_pem()},
    }
