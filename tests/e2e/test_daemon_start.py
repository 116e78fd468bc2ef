"""Start-up refusals are clear, name the problem and keep the evidence."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.ecr.client import EcrClient
from tests.support.daemon import TOKEN, free_port, write_store_files


def alipay_public_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def run_daemon(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli.main", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_a_corrupt_database_is_refused_clearly_and_kept_aside(tmp_path: Path) -> None:
    config = write_store_files(tmp_path, "http://127.0.0.1:9/gateway.do", alipay_public_pem(), free_port())
    state = tmp_path / "state"
    state.mkdir()
    (state / "agent.db").write_bytes(b"this is not a database" * 100)
    result = run_daemon(config)
    assert result.returncode == 3
    assert "database cannot be used" in result.stderr and "Traceback" not in result.stderr
    assert any(p.name.startswith("agent.db.corrupt") for p in state.iterdir()), "the broken file must be kept"


def test_a_world_readable_token_is_refused(tmp_path: Path) -> None:
    config = write_store_files(tmp_path, "http://127.0.0.1:9/gateway.do", alipay_public_pem(), free_port())
    os.chmod(tmp_path / "keys" / "ecr_token", 0o644)
    result = run_daemon(config)
    assert result.returncode == 2 and "chmod 600" in result.stderr


def test_tcp_port_false_serves_the_unix_socket_only(tmp_path: Path) -> None:
    port = free_port()
    config = write_store_files(tmp_path, "http://127.0.0.1:9/gateway.do", alipay_public_pem(), port)
    config.write_text(config.read_text().replace(f"tcp_port = {port}", "tcp_port = false"))
    daemon = subprocess.Popen([sys.executable, "-m", "agent.cli.main", "run", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert daemon.poll() is None, daemon.communicate()[1]
            try:
                with EcrClient.connect(tmp_path / "ecr.sock", token=TOKEN) as ecr:
                    assert "agent" in ecr.request("status.get")
                break
            except OSError:
                assert time.monotonic() < deadline, "the agent did not serve its Unix socket"
                time.sleep(0.1)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens on TCP
    finally:
        daemon.terminate()
        daemon.wait(30)


def test_both_listeners_off_is_refused_at_start(tmp_path: Path) -> None:
    port = free_port()
    config = write_store_files(tmp_path, "http://127.0.0.1:9/gateway.do", alipay_public_pem(), port)
    text = config.read_text().replace(f"tcp_port = {port}", "tcp_port = false")
    config.write_text(text.replace(f'unix_socket = "{tmp_path / "ecr.sock"}"', "unix_socket = false"))
    result = run_daemon(config)
    assert result.returncode == 2 and "both off" in result.stderr and "Traceback" not in result.stderr
