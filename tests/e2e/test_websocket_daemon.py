"""The real daemon with `[ecr] websocket_port`: a web POS page paired with `posagent ecr pair`, driving
a sale over WebSocket, losing its socket and the agent mid-sale, and revoked with `posagent ecr origins`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.cli.main import main
from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.daemon import TOKEN, Daemon, free_port, write_store_files
from tests.support.gateway import Store
from tests.support.ws_client import Refused, WsClient

POS = "https://pos.example.com"


@pytest.fixture
def web_till(tmp_path: Path, simulated_gateway: Store) -> Iterator[tuple[Daemon, int]]:
    port, ws_port, status_port = free_port(), free_port(), free_port()
    config = write_store_files(tmp_path, simulated_gateway.gateway.url, simulated_gateway.gateway.alipay_public_key_pem,
                               port, status_port=status_port)  # fmt: skip
    text = config.read_text().replace("heartbeat_seconds = 1.0", f"heartbeat_seconds = 1.0\nwebsocket_port = {ws_port}")
    config.write_text(text)
    running = Daemon(config, port, tmp_path / "daemon.log", status_port=status_port)
    running.start()
    yield running, ws_port
    running.stop()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    exit_code = main(["ecr", *argv, "--json"])
    out = capsys.readouterr().out
    return exit_code, json.loads(out) if out.strip() else None


async def open_page(ws_port: int) -> WsClient:
    for _ in range(100):  # the WebSocket listener starts just after the TCP one the fixture waited for
        try:
            client = await WsClient.open(ws_port, origin=POS)
        except ConnectionRefusedError:
            await asyncio.sleep(0.05)
            continue
        assert isinstance(client, WsClient), client
        return client
    raise AssertionError("the WebSocket listener never came up")


async def sale_events(page: WsClient, sale_id: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    """Read events into `seen` until this sale's final state."""
    while True:
        message = await page.next_event(timeout=30)
        seen.append(message)
        sale = message["body"].get("sale", {})
        if message["event"] == "sale.updated" and sale.get("sale_id") == sale_id and sale["final"]:
            return message


async def test_a_paired_page_survives_losing_its_socket_and_the_agent_mid_sale(
    web_till: tuple[Daemon, int], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon, ws_port = web_till
    config = str(daemon.config)
    assert isinstance(await WsClient.open(ws_port, origin=POS), Refused)  # not paired yet

    exit_code, paired = cli(capsys, "pair", "--origin", POS, "--config", config)
    assert exit_code == 0 and paired["url"] == f"ws://127.0.0.1:{ws_port}/ecr"
    page = await open_page(ws_port)
    token = (await page.pair(paired["code"]))["body"]["token"]
    hello = await page.hello(token)
    assert hello["ok"]
    epoch = hello["body"]["epoch"]

    # The socket drops mid-sale; the page comes back with last_seq: every event once, none lost.
    started = await page.request("sale.start", {"sale_id": "W1", "amount": "8", "subject": "Web till",
                                                "code": example(Behaviour.NEEDS_CONFIRMATION, confirm_after=2)})  # fmt: skip
    assert started["ok"]
    seen: list[dict[str, Any]] = []
    seen.append(await page.next_event())
    page.writer.transport.abort()  # the tab is reloaded: no close handshake
    page = await open_page(ws_port)
    again = await page.hello(token, last_seq=seen[-1]["seq"])
    assert again["body"]["gap"] is False
    final = await sale_events(page, "W1", seen)
    assert final["body"]["sale"]["state"] == "succeeded"
    seqs = [m["seq"] for m in seen]
    assert seqs == list(range(seqs[0], seqs[-1] + 1)) and all(m["epoch"] == epoch for m in seen)

    # The agent is killed mid-sale and restarted: the pairing holds, the page learns of the gap, and
    # the sale's outcome comes once.
    await page.request("sale.start", {"sale_id": "W2", "amount": "30", "subject": "Web till",
                                      "code": example(Behaviour.NEVER_COMPLETES)})  # fmt: skip
    await page.close()
    daemon.kill()
    daemon.start()
    page = await open_page(ws_port)
    after = await page.hello(token, last_seq=seqs[-1])
    assert after["ok"] and after["body"]["gap"] is True and after["body"]["epoch"] != epoch
    later: list[dict[str, Any]] = []
    done = await sale_events(page, "W2", later)
    assert done["body"]["sale"]["state"] == "cancelled"
    finals = [m for m in later if m["event"] == "sale.updated" and m["body"]["sale"]["final"]]
    assert len(finals) == 1
    later_seqs = [m["seq"] for m in later]
    assert len(later_seqs) == len(set(later_seqs))

    # The status page lists the origin and its open page, never its token.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.status_port}", timeout=10) as browser:
        await browser.post("/login", data={"token": TOKEN})
        page_html = (await browser.get("/")).text
    assert 'id="origins"' in page_html and POS in page_html and token not in page_html

    # The CLI lists the origin with its last use, and revoking it closes the page within a second.
    exit_code, listed = cli(capsys, "origins", "list", "--config", config)
    assert exit_code == 0 and [row["origin"] for row in listed["paired"]] == [POS]
    assert listed["paired"][0]["last_used"] is not None
    exit_code, _ = cli(capsys, "origins", "revoke", POS, "--config", config)
    assert exit_code == 0
    closed = await page.closed(timeout=10)
    assert (closed.code, closed.reason) == (1008, "origin revoked")
    refused = await WsClient.open(ws_port, origin=POS)
    assert isinstance(refused, Refused) and refused.status == 403
    assert token not in daemon.log.read_text() and paired["code"] not in daemon.log.read_text()


def test_the_cli_refuses_bad_origins_and_unknown_revocations_in_one_line(
    web_till: tuple[Daemon, int], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon, _ = web_till
    config = str(daemon.config)
    assert main(["ecr", "pair", "--origin", "pos.example.com/path", "--config", config]) == 2
    assert main(["ecr", "pair", "--config", config]) == 2
    assert main(["ecr", "origins", "revoke", POS, "--config", config]) == 1
    assert main(["ecr", "origins", "frobnicate", "--config", config]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(line.startswith("error: ") for line in err.splitlines())
