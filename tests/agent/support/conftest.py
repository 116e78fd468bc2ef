"""A till as the installer leaves it (keys, token files, outbox key, database), with secrets that escaped.

The log file gets raw secrets written straight into it, as if a line had slipped past masking; the
outbox holds payloads with a phone number and a user id and a dead job whose error quotes a payment
code. Every bundle test then checks that none of it comes out.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from agent.support.facts import Runner
from offline_queue import Dead, Outbox
from tests.support.daemon import TOKEN, free_port, write_store_files
from tests.support.gateway import _APP_KEY

PAYMENT_CODE = "28" + "7315904268135790"
PAYMENT_TAIL = "28**********5790"
AUTH_CODE = "7f3dc16c1f8641a39e8a27f95abcQX20"
PHONE = "13812345678"
USER_ID = "2088102146225135"
APP_AUTH_TOKEN = "202511BBa1b2c3d4e5f60718293a4b5c6d7e8f90"
OLD_LINE = "a line from long ago"


@dataclass
class Till:
    root: Path
    config: Path
    dead_job_id: int

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def database(self) -> Path:
        return self.state / "agent.db"

    @property
    def log_file(self) -> Path:
        return self.state / "logs" / "agent.log"

    @property
    def private_key_pem(self) -> str:
        return (self.root / "keys" / "app_private_key.pem").read_text()

    @property
    def private_key_body(self) -> str:
        return "".join(line for line in self.private_key_pem.splitlines() if not line.startswith("-----"))

    @property
    def outbox_key(self) -> str:
        return (self.root / "keys" / "outbox.key").read_text().strip()

    def secrets(self) -> list[str]:
        """Every string that must not appear anywhere in a bundle."""
        body = self.private_key_body
        slices = [body[i : i + 40] for i in range(len(body) - 39)]
        return [TOKEN, APP_AUTH_TOKEN, self.outbox_key, PAYMENT_CODE, PHONE, AUTH_CODE, USER_ID, *slices]


def public_pem() -> str:
    key = _APP_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key.decode()


def make_till(root: Path, gateway_url: str = "http://127.0.0.1:9", alipay_public_pem: str | None = None) -> Till:
    config = write_store_files(root, gateway_url, alipay_public_pem or public_pem(), free_port())
    token_file = root / "keys" / "app_auth_token"
    token_file.write_text(APP_AUTH_TOKEN + "\n")
    token_file.chmod(0o600)
    config.write_text(
        config.read_text().replace(
            "read_timeout = 3.0", 'read_timeout = 3.0\napp_auth_token_file = "keys/app_auth_token"'
        )
    )
    till = Till(root, config, dead_job_id=0)
    till.state.mkdir()
    with Outbox.open(till.database, key_file=root / "keys" / "outbox.key") as box:
        box.enqueue("card.open", {"mobile": PHONE, "user_id": USER_ID, "template_id": "T1"}, idempotency_key="open-1")
        box.enqueue(
            "card.open", {"mobile": PHONE, "template_id": "T1"}, idempotency_key="open-2", sensitive=("mobile",)
        )
        box.enqueue("card.update", {"user_id": USER_ID, "points": 10}, idempotency_key="upd-1")
        dead = box.enqueue("payment.reverse", {"user_id": USER_ID}, idempotency_key="rev-1")
        box.claim(10, kinds=["payment.reverse"])
        box.complete(dead.id, Dead(f"ACQ.PAYMENT_AUTH_CODE_INVALID: code {PAYMENT_CODE} refused"))
        box.requeue_in_flight()
    till.dead_job_id = dead.id
    write_escaped_log(till)
    return till


def write_escaped_log(till: Till) -> None:
    now = datetime.now().astimezone()
    old = (now - timedelta(hours=100)).isoformat(timespec="milliseconds")
    stamp = now.isoformat(timespec="milliseconds")
    till.log_file.parent.mkdir(parents=True)
    till.log_file.write_text(
        f"{old} INFO agent.daemon: {OLD_LINE}\n"
        f"{stamp} INFO agent.daemon: started\n"
        f"{stamp} ERROR agent.sales: pay failed for code {PAYMENT_CODE}\n"
        f"{stamp} ERROR agent.members: open failed auth_code={AUTH_CODE} mobile {PHONE}\n"
        f'{stamp} DEBUG agent.ecr: hello {{"token": "{TOKEN}"}} and bare {TOKEN}\n'
        f"{stamp} DEBUG agent.alipay: app_auth_token {APP_AUTH_TOKEN}\n"
        f"{stamp} DEBUG agent.outbox: key {till.outbox_key}\n"
        f"{stamp} ERROR agent.alipay: key dump\n{till.private_key_pem}\n"
        f"{stamp} ERROR agent.alipay: one line {till.private_key_body}\n"
        f"{stamp} ERROR agent.alipay: a piece {till.private_key_body[100:160]}\n"
    )


@pytest.fixture
def till(tmp_path: Path) -> Till:
    return make_till(tmp_path / "till")


def fake_commands(journal: str = "") -> Runner:
    """Stands in for systemctl and journalctl (no systemd in tests)."""

    def run(argv: list[str], timeout: float) -> tuple[int, str, str]:
        if argv[0] == "journalctl":
            return 0, journal, ""
        return 3, "inactive\n", ""

    return run


def read_bundle(path: Path) -> tuple[bytes, dict[str, str]]:
    """The uncompressed tar stream (every byte in the archive) and each member's text."""
    raw = path.read_bytes()
    stream = gzip.decompress(raw)
    members: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                folder, _, name = member.name.partition("/")
                assert folder.startswith("posagent-support-")  # one folder, named like the default archive
                members[name] = extracted.read().decode("utf-8")
    return raw + stream, members
