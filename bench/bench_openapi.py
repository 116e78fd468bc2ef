"""OpenAPI client: per-call local cost next to raw `cryptography` and the official SDK's signing.

Per call = build the request + sign it + locate, verify and parse the signed reply (no network).
Raw = one RSA2 sign over the same string to sign + one verify over the same reply node.
Official SDK = alipay-sdk-python's get_sign_content + sign_with_rsa2 (pure-Python `rsa`).
All three run interleaved in rounds in one process; the figure is the median round.

Run: .venv/bin/python bench/bench_openapi.py
"""

from __future__ import annotations

import base64
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from agent.alipay import Credentials, OpenApiProtocol, apis
from agent.alipay.signing import string_to_sign

ROUNDS = 7
CALLS_PER_ROUND = 150
SDK_CALLS_PER_ROUND = 4


def per_call_seconds(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    alipay_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    protocol = OpenApiProtocol(Credentials("2021000000000001", app_key, alipay_key.public_key()), "sandbox")
    now = datetime.now(UTC)
    request = apis.CardUpdate(
        target_card_no="VIP0000000001", occur_time="2026-11-25 12:00:00",
        card_info=apis.CardInfo(point="1280", balance="99.50", level="GOLD"), changed_point="80",
        change_reason="purchase", notify_types=("POINT_UPDATE",),
    )  # fmt: skip
    node = b'{"code":"10000","msg":"Success","result_code":""}'
    signature = base64.b64encode(alipay_key.sign(node, padding.PKCS1v15(), hashes.SHA256())).decode()
    body = b'{"alipay_marketing_card_update_response":' + node + b',"sign":"' + signature.encode() + b'"}'

    params = protocol.prepare(request, now).signed_params
    params.pop("sign")
    content = string_to_sign(params)
    content_bytes = content.encode()
    public = alipay_key.public_key()
    pem = app_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()  # fmt: skip
    pkcs1 = "".join(pem.strip().splitlines()[1:-1])  # the SDK wants the PKCS#1 body without armour

    def ours() -> None:
        prepared = protocol.prepare(request, now)
        assert prepared.query["sign"]
        protocol.parse(request, 200, body)

    def raw() -> None:
        app_key.sign(content_bytes, padding.PKCS1v15(), hashes.SHA256())
        public.verify(base64.b64decode(signature), node, padding.PKCS1v15(), hashes.SHA256())

    def sdk() -> None:
        sign_with_rsa2(pkcs1, get_sign_content(params), "utf-8")

    for fn in (ours, raw, sdk):  # warm-up
        fn()
    ours_t: list[float] = []
    raw_t: list[float] = []
    sdk_t: list[float] = []
    for _ in range(ROUNDS):
        ours_t.append(per_call_seconds(ours, CALLS_PER_ROUND))
        raw_t.append(per_call_seconds(raw, CALLS_PER_ROUND))
        sdk_t.append(per_call_seconds(sdk, SDK_CALLS_PER_ROUND))
    o, r, s = (statistics.median(x) for x in (ours_t, raw_t, sdk_t))
    print("OpenAPI client, per-call local cost (build + sign + locate + verify + parse; no network)")
    print(f"  agent client              {o * 1e3:8.3f} ms/call")
    print(f"  raw cryptography RSA2     {r * 1e3:8.3f} ms/call   (sign + verify only)")
    print(f"  official SDK signing      {s * 1e3:8.3f} ms/call   (get_sign_content + sign_with_rsa2)")
    print(f"  agent / raw               {o / r:8.2f}x   (target <= 1.30x)")
    print(f"  official SDK / agent      {s / o:8.1f}x   (target >= 20x)")
    print(f"  rounds={ROUNDS} calls/round={CALLS_PER_ROUND} (SDK {SDK_CALLS_PER_ROUND}); median round shown")


if __name__ == "__main__":
    main()
