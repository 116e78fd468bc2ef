"""alipay.open.app.alipaycert.download: an Alipay public-key certificate by its serial number.

`alipay_cert_content` is the Base64 of the certificate file's PEM text (leaf, then the intermediate),
which clients decode and load when a reply's `alipay_cert_sn` is not the one they hold. Every
certificate the simulator ever used stays downloadable (rotation keeps the old ones)."""

from __future__ import annotations

from ..certmode import cert_content
from ..errors import ApiError
from .context import Context, JsonObject, require_str

METHOD = "alipay.open.app.alipaycert.download"


def download(ctx: Context) -> JsonObject:
    sn = require_str(ctx.biz(), "alipay_cert_sn", max_len=64)
    row = ctx.db.execute("SELECT content FROM alipay_certs WHERE sn = ?", (sn,)).fetchone()
    if row is None:
        raise ApiError("40002", "isv.alipay-cert-not-exist", "支付宝公钥证书不存在")
    return {"code": "10000", "msg": "Success", "alipay_cert_content": cert_content(str(row["content"]))}


HANDLERS = {METHOD: download}
