"""Sustained signed calls per second the gateway simulator serves over loopback.

The simulator runs in its own process (`posagent-sim gateway`), as in the end-to-end tests; a few
client threads here sign requests with a tiny signer of their own (cryptography RSA2), send
alipay.marketing.card.update / .query over keep-alive connections and verify every reply's
signature. Bounded by a call count and a time limit. Target: >= 300 calls/s on 2 cores.

    .venv/bin/python bench/bench_gateway.py [--calls 3000] [--threads 4] [--seconds 30]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

APP_ID = "2021000000000001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Signer:
    """A lean client: http.client keep-alive for the hot path (httpx only for the multipart setup)."""

    def __init__(self, url: str, key: rsa.RSAPrivateKey, alipay_public_key: rsa.RSAPublicKey) -> None:
        self.url, self.key, self.alipay = url, key, alipay_public_key
        parts = urlsplit(url)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10.0)

    def call(self, method: str, biz: dict[str, Any] | None = None, **text: Any) -> dict[str, Any]:
        stamp = (datetime.now(UTC) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
        common = {"app_id": APP_ID, "method": method, "format": "json", "charset": "utf-8", "sign_type": "RSA2",
                  "timestamp": stamp, "version": "1.0"}  # fmt: skip
        files = text.pop("files", None)
        body = {k: str(v) for k, v in text.items()}
        if biz is not None:
            body["biz_content"] = json.dumps(biz, separators=(",", ":"), ensure_ascii=False)
        merged = {**common, **body}
        content = "&".join(f"{k}={merged[k]}" for k in sorted(merged) if merged[k])
        signature = self.key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())
        common["sign"] = base64.b64encode(signature).decode()
        if files:
            raw = httpx.post(self.url, params=common, data=body, files=files, timeout=10.0).content
        else:
            self.conn.request("POST", f"{self.path}?{urlencode(common)}", body=urlencode(body),
                              headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})  # fmt: skip
            raw = self.conn.getresponse().read()
        start, end = raw.index(b'":') + 2, raw.rindex(b',"sign":"')
        self.alipay.verify(base64.b64decode(raw[end + 9 : -2]), raw[start:end], padding.PKCS1v15(), hashes.SHA256())
        node: dict[str, Any] = json.loads(raw[start:end])
        return node


def setup_card(client: Signer) -> str:
    from hardware_sim.customer import open_card

    images = [
        client.call("alipay.offline.material.image.upload", image_type="png", image_name=name,
                    files={"image_content": (f"{name}.png", PNG, "image/png")})["image_id"]
        for name in ("logo", "bg")
    ]  # fmt: skip
    template_id = client.call("alipay.marketing.card.template.create", {
        "request_id": "bench", "card_type": "OUT_MEMBER_CARD", "biz_no_prefix": "b", "biz_no_suffix_len": "10",
        "template_style_info": {"card_show_name": "Bench", "logo_id": images[0], "background_id": images[1]},
    })["template_id"]  # fmt: skip
    client.call(
        "alipay.marketing.card.formtemplate.set",
        {"template_id": template_id, "fields": {"required": '{"common_fields":["OPEN_FORM_FIELD_MOBILE"]}'}},
    )
    url = client.call("alipay.marketing.card.activateurl.apply", {"template_id": template_id})["apply_card_url"]
    code = open_card(url, mobile="13800138000", name="Bench", follow_callback=False).params["auth_code"]
    token = client.call("alipay.system.oauth.token", grant_type="authorization_code", code=code)
    opened = client.call("alipay.marketing.card.open", {
        "out_serial_no": "bench-1", "card_template_id": template_id,
        "card_user_info": {"user_uni_id": token["user_id"], "user_uni_id_type": "UID"}, "card_ext_info": {},
    }, auth_token=token["access_token"])  # fmt: skip
    return str(opened["card_info"]["biz_card_no"])


def _cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (Linux /proc), to report the simulator's own cost per call."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--workload", choices=("cards", "pay"), default="cards",
        help="cards: card.update/query alternating (update replies are identical, their signature is reused); "
        "pay: trade.pay with a new out_trade_no each time (every reply unique: worst case)",
    )  # fmt: skip
    args = parser.parse_args()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "app.pem"
        key_file.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "hardware_sim.cli", "gateway", "--port", "0", "--state-dir", f"{tmp}/state",
             "--app", f"{APP_ID}={key_file}"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            alipay = serialization.load_pem_public_key(Path(f"{tmp}/state/alipay_public_key.pem").read_bytes())
            assert isinstance(alipay, rsa.RSAPublicKey)
            card_no = setup_card(Signer(url, key, alipay))
            done, failures, lock = [0], [0], threading.Lock()
            deadline = time.perf_counter() + args.seconds

            def worker(index: int) -> None:
                client = Signer(url, key, alipay)
                n = 0
                while time.perf_counter() < deadline:
                    with lock:
                        if done[0] >= args.calls:
                            return
                        done[0] += 1
                    n += 1
                    target = {"target_card_no": card_no, "target_card_no_type": "BIZ_CARD"}
                    if args.workload == "pay":
                        node = client.call("alipay.trade.pay", {
                            "out_trade_no": f"bench_{index}_{n}", "scene": "bar_code", "subject": "bench",
                            "total_amount": "1.00", "auth_code": "281" + "1" * 15})  # fmt: skip
                    elif n % 2:
                        moment = datetime(2026, 1, 1) + timedelta(seconds=index * 10**6 + n)
                        occur = moment.strftime("%Y-%m-%d %H:%M:%S")
                        node = client.call("alipay.marketing.card.update",
                                           {**target, "occur_time": occur, "card_info": {"point": str(n)}})  # fmt: skip
                    else:
                        node = client.call("alipay.marketing.card.query", target)
                    if node.get("code") != "10000":
                        with lock:
                            failures[0] += 1

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
            cpu_before = _cpu_seconds(server.pid)
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            server_cpu = _cpu_seconds(server.pid) - cpu_before
        finally:
            server.terminate()
            server.wait(timeout=20)
    rate = done[0] / elapsed
    per_call_ms = server_cpu / done[0] * 1000
    print(f"simulator CPU per call: {per_call_ms:.2f} ms (= {1000 / per_call_ms:.0f} calls/s per core it gets)")
    what = "trade.pay, unique replies" if args.workload == "pay" else "card.update/query"
    print(f"gateway simulator: {done[0]} signed calls ({what}, verified replies) from {args.threads} "
          f"client threads in {elapsed:.2f} s = {rate:.0f} calls/s; failures: {failures[0]}; "
          f"target >= 300 calls/s: {'OK' if rate >= 300 else 'BELOW'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
