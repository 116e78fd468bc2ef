"""`posagent card ...` in certificate mode: the set-up commands use the config's certificate files, and a
certificate Alipay rotated to is downloaded once and kept in the state dir, shared with the daemon."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli.main import main
from hardware_sim.gateway import GatewaySimulator
from tests.support.certmode import CERT_APP_ID, alipay_cert_lines, register_cert_app

EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"
DOWNLOAD = "alipay.open.app.alipaycert.download"


@pytest.fixture
def sim() -> Iterator[GatewaySimulator]:
    with GatewaySimulator() as simulator:
        yield simulator


@pytest.fixture
def config(tmp_path: Path, sim: GatewaySimulator) -> Path:
    app = register_cert_app(sim, tmp_path / "keys")
    path = tmp_path / "agent.toml"
    path.write_text(f'[alipay]\napp_id = "{CERT_APP_ID}"\ngateway = "{sim.url}"\nread_timeout = 10\n'
                    f'{alipay_cert_lines(app)}\n[paths]\nstate_dir = "state"\n')  # fmt: skip
    return path


def card(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code = main(["card", argv[0], "--config", str(config), *argv[1:], "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    answer: dict[str, object] = json.loads(out)
    return answer


def test_set_up_commands_work_in_certificate_mode_and_keep_a_rotated_certificate(
    config: Path, sim: GatewaySimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("card-template.toml", "background.png", "logo.png"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    template_id = str(card(config, capsys, "create-template", str(tmp_path / "card-template.toml"))["template_id"])
    new_sn = sim.rotate_alipay_cert()
    assert template_id in str(card(config, capsys, "activation-url", template_id, "--no-qr")["url"])
    kept = tmp_path / "state" / "alipay_certs" / f"alipay_cert_{new_sn}.pem"
    assert kept.is_file()  # where the daemon looks at its next start
    card(config, capsys, "activation-url", template_id, "--no-qr")  # the next command trusts it at once
    assert sim.inspect()["calls"][DOWNLOAD] == 1
