"""`posagent relay run` as headquarters runs it: a process per instance, its URL printed first; an instance
killed while a customer's request waits for the broker, and the customer's retry answered by another one."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.broker import Broker
from tests.support.relay_process import RelayProcess
from tests.support.waiting import wait_until

from .conftest import Chain

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def relays(chain: Chain, tmp_path: Path) -> Iterator[list[RelayProcess]]:
    started = [RelayProcess(chain.relay_config(tmp_path / name)) for name in ("a", "b")]
    yield started
    for relay in started:
        relay.stop()


def healthy(relay: RelayProcess) -> bool:
    try:
        return httpx.get(relay.url.replace("/alipay/open-card", "/healthz"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def test_the_first_line_is_the_public_url_and_the_instance_stops_cleanly(relays: list[RelayProcess]) -> None:
    relay = relays[0]
    assert relay.first_line == "https://cards.example.com/alipay/open-card"
    relay.process.send_signal(signal.SIGTERM)
    assert relay.process.wait(10) == 0


async def test_an_instance_killed_mid_request_and_the_retry_answered_by_another(
        chain: Chain, broker: Broker, relays: list[RelayProcess]) -> None:  # fmt: skip
    till = chain.till("S1", "T1")
    a, b = relays
    await wait_until(lambda: healthy(a) and healthy(b), attempts=1000)
    query = chain.callback_query(till, "E11", request_id="20260101000000000000000000011")
    assert broker.process is not None
    with chain.listen(till) as inbox:
        broker.process.send_signal(signal.SIGSTOP)  # instance A will wait for its PUBACK
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                first = asyncio.create_task(http.get(f"{a.url}?{query}"))
                await wait_until(lambda: a.metric("posagent_relay_callbacks_received_total") == 1, attempts=1000)
                os.kill(a.process.pid, signal.SIGKILL)
                with pytest.raises(httpx.TransportError):
                    await first
        finally:
            broker.process.send_signal(signal.SIGCONT)
        async with httpx.AsyncClient(timeout=30) as http:
            retry = await http.get(f"{b.url}?{query}")  # the balancer sends the retry to a live instance
        assert retry.status_code == 200 and "being opened" in retry.text
        await wait_until(lambda: inbox.count() >= 1)
        # Delivered; if A's publish left before it died, the till gets a second copy of the same form
        # submission, which it counts as done.
        assert {m.params["request_id"] for m in inbox.opened(till)} == {"20260101000000000000000000011"}


def test_config_mistakes_are_named_one_per_line_without_a_traceback(chain: Chain, tmp_path: Path) -> None:
    config = chain.relay_config(tmp_path / "bad", '[limits]\nper_source_per_minute = 0\n')
    text = config.read_text().replace('public_url = "https://cards.example.com/alipay/open-card"',
                                      'public_url = "http://cards.example.com/"')  # fmt: skip
    text = text.replace('url = "mqtts://127.0.0.1', 'url = "mqtt://broker.example.com:1883" #')
    config.write_text(text)
    (chain.hq / "bundles" / "relay" / "relay_password").chmod(0o644)
    done = subprocess.run([sys.executable, "-m", "agent.cli.main", "relay", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert any("relay.public_url: the public https:// URL" in line for line in lines), lines
    assert any("broker.url: mqtt:// is not encrypted" in line for line in lines), lines
    assert any("limits.per_source_per_minute: must be greater than 0" in line for line in lines), lines
    assert all(line.startswith(f"error: {config}: ") for line in lines) and "Traceback" not in done.stderr
    # Once the settings are right, the files they name are checked the same way.
    config.write_text(config.read_text().replace('public_url = "http://cards.example.com/"',
                                                 'public_url = "https://cards.example.com/x"')
                      .replace('url = "mqtt://broker.example.com:1883" #', 'url = "mqtts://127.0.0.1')
                      .replace("per_source_per_minute = 0", "per_source_per_minute = 5"))  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "agent.cli.main", "relay", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2
    assert "broker.password_file:" in done.stderr and "chmod 600" in done.stderr and "Traceback" not in done.stderr


def test_a_taken_port_is_one_line_naming_the_setting(chain: Chain, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = chain.relay_config(tmp_path / "relay", port=port)
        done = subprocess.run([sys.executable, "-m", "agent.cli.main", "relay", "run", "--config", str(config)],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"error: {config}: relay.host/relay.port: cannot listen on 127.0.0.1:{port} " \
                                  "(Address already in use)"  # fmt: skip
