"""Certificate mode set up as a merchant does it: `posagent keys generate --csr`, the CSR registered with the
simulated gateway (the console), the three files it gives saved next to the key, and a config naming them."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hardware_sim.gateway import GatewaySimulator
from tests.support.daemon import write_store_files

CERT_APP_ID = "2021000000000077"  # its own app: the shared public-key app keeps working beside it
CERT_FILES = {
    "app_cert_file": f"appCertPublicKey_{CERT_APP_ID}.crt",
    "alipay_cert_file": "alipayCertPublicKey_RSA2.crt",
    "alipay_root_cert_file": "alipayRootCert.crt",
}


@dataclass(frozen=True)
class CertApp:
    keys_dir: Path
    private_key: Path


def posagent(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli.main", *args], check=False, capture_output=True,
                          text=True, timeout=120, cwd=cwd)  # fmt: skip


def register_cert_app(gateway: GatewaySimulator, keys_dir: Path) -> CertApp:
    """A new key and CSR from the CLI, the CSR registered with the gateway, the three files saved in `keys_dir`."""
    made = posagent("keys", "generate", "--csr", "--app-id", CERT_APP_ID, "--org", "Lotus Test Stores",
                    "--out", str(keys_dir), "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    generated = json.loads(made.stdout)
    gateway.register_cert_app(CERT_APP_ID, Path(generated["csr_file"]).read_text()).write(keys_dir)
    return CertApp(keys_dir, Path(generated["private_key_file"]))


def alipay_cert_lines(app: CertApp) -> str:
    lines = [f'app_private_key_file = "{app.private_key}"']
    lines += [f'{setting} = "{app.keys_dir / name}"' for setting, name in CERT_FILES.items()]
    return "\n".join(lines)


def to_cert_mode(config: Path, app: CertApp) -> Path:
    """A config written by `write_store_files` switched to the cert-mode app: its key and three files."""
    text = config.read_text()
    text = text.replace('app_private_key_file = "keys/app_private_key.pem"\n', "")
    text = text.replace('alipay_public_key_file = "keys/alipay_public_key.pem"', alipay_cert_lines(app))
    text = text.replace('app_id = "2021000000000001"', f'app_id = "{CERT_APP_ID}"')
    assert alipay_cert_lines(app) in text and CERT_APP_ID in text
    config.write_text(text)
    return config


def write_cert_store_files(root: Path, gateway: GatewaySimulator, port: int, extra: str = "", *,
                           status_port: int | None = None) -> Path:  # fmt: skip
    """`write_store_files` in certificate mode, the app registered with `gateway` from a CLI-made CSR."""
    app = register_cert_app(gateway, root / "certkeys")
    config = write_store_files(root, gateway.url, gateway.alipay_public_key_pem, port, extra, status_port=status_port)
    return to_cert_mode(config, app)
