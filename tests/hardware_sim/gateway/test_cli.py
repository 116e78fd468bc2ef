"""`posagent-sim gateway`: URL first, keys in the state dir, clean exit on SIGTERM, clear errors."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import APP_ID
from .oapi import TinyClient, public_pem


def test_cli_prints_the_url_first_and_stops_on_sigterm(tmp_path: Path, app_key: rsa.RSAPrivateKey) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(public_pem(app_key))
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "hardware_sim.cli", "gateway", "--port", "0", "--state-dir", str(state),
         "--app", f"{APP_ID}={key_file}", "--fault", "latency=0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/gateway.do")
        client = TinyClient(url, APP_ID, app_key, (state / "alipay_public_key.pem").read_text())
        assert client.call("alipay.trade.query", {"out_trade_no": "x"}).verified
        client.close()
        health = httpx.get(url.replace("/gateway.do", "/__admin/health")).json()
        assert health["apps"] == [APP_ID]
        assert health["alipay_public_key"] == (state / "alipay_public_key.pem").read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert (state / "alipay_private_key.pem").exists()


def test_cli_refuses_bad_options_clearly(tmp_path: Path) -> None:
    bad_fault = subprocess.run(
        [sys.executable, "-m", "hardware_sim.cli", "gateway", "--fault", "error_rate=9"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad_fault.returncode == 2 and "error_rate must be between 0 and 1" in bad_fault.stderr
    (tmp_path / "bad.pem").write_text("garbage")
    bad_key = subprocess.run(
        [sys.executable, "-m", "hardware_sim.cli", "gateway", "--app", f"{APP_ID}={tmp_path / 'bad.pem'}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad_key.returncode == 2 and "posagent-sim gateway:" in bad_key.stderr
    assert "Traceback" not in bad_key.stderr


def _start(state: Path, key_file: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "hardware_sim.cli", "gateway", "--port", "0", "--state-dir", str(state),
         "--app", f"{APP_ID}={key_file}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def test_a_killed_simulator_keeps_every_answered_call(tmp_path: Path, app_key: rsa.RSAPrivateKey) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(public_pem(app_key))
    state = tmp_path / "state"
    process, url = _start(state, key_file)
    try:
        client = TinyClient(url, APP_ID, app_key, (state / "alipay_public_key.pem").read_text())
        paid = client.ok("alipay.trade.pay", {"out_trade_no": "k1", "scene": "bar_code", "subject": "x",
                                              "total_amount": "3.00", "auth_code": "281" + "1" * 15})  # fmt: skip
        client.close()
    finally:
        process.kill()  # SIGKILL: no clean shutdown
        process.wait(timeout=20)
    process, url = _start(state, key_file)
    try:
        client = TinyClient(url, APP_ID, app_key, (state / "alipay_public_key.pem").read_text())
        node = client.ok("alipay.trade.query", {"out_trade_no": "k1"})
        assert (node["trade_no"], node["trade_status"]) == (paid["trade_no"], "TRADE_SUCCESS")
        client.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
