"""The README's chain demo, run as the README says (`./run demo --chain`, a subprocess): a customer of store B
gets the card opened at store B's till and nowhere else, headquarters sees both tills healthy, and nothing
the demo started outlives it, whether it ends by itself, on SIGTERM, or on Ctrl-C (SIGINT to the terminal's
whole process group, the demo's children included)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.support.broker import MOSQUITTO

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
PHONE = "13800138000"  # the demo customer's


class Demo:
    """`./run demo --chain --workdir DIR [ARGS]` in its own session (as a terminal's foreground job)."""

    def __init__(self, work: Path, *args: str) -> None:
        if not Path(MOSQUITTO).exists():
            pytest.fail("the chain demo needs Eclipse Mosquitto: ./run test installs it (apt-get install mosquitto)")
        self.work = work
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen([str(ROOT / "run"), "demo", "--chain", "--workdir", str(work), *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(re.search(pattern, line) for line in self.lines):
                left = deadline - time.monotonic()
                assert left > 0 and self.process.poll() is None, f"no line matching {pattern!r}:\n" + "\n".join(self.lines)
                self._changed.wait(min(left, 1.0))

    def wait(self, timeout: float = 240.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(10)
        return code


def processes_using(path: Path) -> list[str]:
    """Every process whose command line names `path` (each child of the demo names its folder in its arguments)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        if str(path) in command:
            found.append(f"{entry.name}: {command}")
    return found


def assert_nothing_left(work: Path) -> None:
    deadline = time.monotonic() + 10  # a process just killed may linger as a zombie a moment before it is reaped
    while (left := processes_using(work)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == []


def test_store_b_s_customer_gets_the_card_at_store_b_s_till_and_nothing_is_left_running(tmp_path: Path) -> None:
    work = tmp_path / "demo-chain"
    demo = Demo(work)
    assert demo.wait() == 0, demo.output
    out = demo.output
    done = re.search(r"card (\w+) opened at store B's till, nothing at store A; 2 of 2 tills healthy", out)
    assert done, out
    assert "the relay answers HTTP 200: 谢谢 / Your membership card is being opened" in out
    # Alipay's books (the simulated gateway's database): one card, the one opened at B, for B's enrollment.
    with sqlite3.connect(work / "merchant" / "gateway" / "gateway.sqlite3") as books:
        assert books.execute("SELECT biz_card_no FROM cards").fetchall() == [(done.group(1),)]
        slips_asked = [row[0] for row in books.execute("SELECT out_string FROM activation_urls WHERE out_string != ''")]
    assert len(slips_asked) == 1 and slips_asked[0].startswith("v1.BJ07.T1.")
    assert len(list((work / "store-B" / "slips").glob("*.png"))) == 1
    assert list((work / "store-A" / "slips").glob("*.png")) == []
    # Headquarters' files stay in the demo's folder, private keys private.
    for key in (work / "hq" / "ca" / "ca.key", work / "hq" / "broker" / "broker.key", work / "hq" / "keys" / "BJ07-T1.key"):
        assert key.stat().st_mode & 0o077 == 0, key
    assert "fleet link" in (work / "hq" / "broker" / "posagent.conf").read_text()
    assert "stopped the" in out.splitlines()[-1]
    assert_nothing_left(work)
    # No secret in what the demo printed or logged: no phone number, password or private key.
    logs = [p for p in work.rglob("*.log")]
    passwords = [p.read_text().strip() for p in (work / "hq" / "bundles").rglob("*_password")]
    for text in [out, *(p.read_text(errors="replace") for p in logs)]:
        assert PHONE not in text and "PRIVATE KEY" not in text
        assert not any(password in text for password in passwords)


@pytest.mark.slow
def test_sigterm_while_it_keeps_running_stops_everything_it_started(tmp_path: Path) -> None:
    work = tmp_path / "demo-chain"
    demo = Demo(work, "--keep-running")
    demo.wait_for_line(r"The chain keeps running")
    assert len(processes_using(work)) >= 9  # mosquitto, gateway, relay, and a printer, scanner and agent per store
    demo.process.send_signal(signal.SIGTERM)
    assert demo.wait(60) == 0, demo.output
    assert_nothing_left(work)


@pytest.mark.slow
def test_ctrl_c_in_the_middle_of_the_set_up_stops_everything_already_started(tmp_path: Path) -> None:
    work = tmp_path / "demo-chain"
    demo = Demo(work)
    demo.wait_for_line(r"^\s+\$ posagent relay run")  # the broker, the gateway and the relay are running
    os.killpg(demo.process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole foreground group
    assert demo.wait(60) == 130, demo.output
    assert "interrupted" in demo.output
    assert_nothing_left(work)
