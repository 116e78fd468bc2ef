"""`alipay.open.app.alipaycert.download`: Alipay's public-key certificate by its SN (certificate mode)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .base import ApiRequest, req_str


@dataclass(frozen=True)
class AlipayCertDownload(ApiRequest[str]):
    """Asked when a reply names an Alipay certificate the agent does not have. The result is
    `alipay_cert_content`, Base64 of the certificate file's PEM; it is trusted only once it chains to the
    configured root bundle (the reply's own signature cannot vouch for the key it introduces), and then
    the reply must verify with it (`OpenApiProtocol.accept_alipay_cert`)."""

    METHOD = "alipay.open.app.alipaycert.download"
    alipay_cert_sn: str

    def biz_content(self) -> dict[str, Any]:
        return {"alipay_cert_sn": self.alipay_cert_sn}

    def parse(self, node: Mapping[str, Any]) -> str:
        return req_str(node, "alipay_cert_content", self.METHOD)
