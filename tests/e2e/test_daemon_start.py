"""Start-up refusals are clear, name the problem and keep the evidence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.daemon import free_port, write_store_files


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
