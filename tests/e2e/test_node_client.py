"""The Node.js example client (docs/examples/node/ecr-client.mjs) drives the real daemon: the protocol is
language-neutral. CI has Node; a machine without it fails here on purpose rather than skipping."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.codes import mask
from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.daemon import TOKEN, Daemon
from tests.support.gateway import Store

CLIENT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "node" / "ecr-client.mjs"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("Node.js (node >= 18) is needed for this test: install it (apt-get install nodejs) and rerun")
    return found


def run_client(*argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([node(), str(CLIENT), *argv], capture_output=True, text=True, timeout=timeout, check=False)


def connection(daemon: Daemon, token_file: Path | None = None) -> list[str]:
    return ["--port", str(daemon.port), "--token-file", str(token_file or daemon.config.parent / "keys" / "ecr_token")]


def test_a_paid_sale_from_node(daemon: Daemon, simulated_gateway: Store) -> None:
    code = example(Behaviour.PAID)
    done = run_client(*connection(daemon), "sale", "--amount", "9.9", "--code", code, "--sale-id", "N1")
    assert done.returncode == 0, done.stderr
    sale = json.loads(done.stdout)["sale"]
    assert (sale["sale_id"], sale["state"], sale["amount"], sale["final"]) == ("N1", "succeeded", "9.90", True)
    assert "sale N1: paying" in done.stderr  # progress from the sale.updated events
    assert code not in done.stdout + done.stderr and mask(code) in done.stderr  # masked as the agent does
    trades = simulated_gateway.gateway.inspect()["trades"]
    assert [t["status"] for t in trades if t["out_trade_no"] == sale["out_trade_no"]] == ["TRADE_SUCCESS"]

    # The same sale again is idempotent (the current state, no second trade); the Unix socket works too.
    again = run_client("--socket", str(daemon.config.parent / "ecr.sock"), "--token-file",
                       connection(daemon)[3], "sale", "--amount", "9.9", "--code", code, "--sale-id", "N1")  # fmt: skip
    assert again.returncode == 0 and json.loads(again.stdout)["sale"]["trade_no"] == sale["trade_no"]
    assert len(simulated_gateway.gateway.inspect()["trades"]) == len(trades)


def test_declines_and_refusals_from_node(daemon: Daemon) -> None:
    declined = run_client(*connection(daemon), "sale", "--amount", "5", "--code",
                          example(Behaviour.BALANCE_NOT_ENOUGH), "--sale-id", "N2")  # fmt: skip
    assert declined.returncode == 1  # a declined payment is a sale outcome, not a request error
    sale = json.loads(declined.stdout)["sale"]
    assert sale["state"] == "failed" and sale["sub_code"] == "ACQ.BUYER_BALANCE_NOT_ENOUGH" and sale["reason"]

    missing = run_client(*connection(daemon), "get", "--sale-id", "nope")
    assert missing.returncode == 3 and "error: NOT_FOUND" in missing.stderr

    conflict = run_client(*connection(daemon), "request", "sale.start",
                          json.dumps({"sale_id": "N2", "amount": "6", "subject": "Till 1"}))  # fmt: skip
    assert conflict.returncode == 3 and "error: IDEMPOTENCY_CONFLICT" in conflict.stderr

    wrong = daemon.config.parent / "wrong_token"
    wrong.write_text("wrong-" + TOKEN)
    refused = run_client(*connection(daemon, wrong), "status")
    assert refused.returncode == 3 and "error: UNAUTHORIZED" in refused.stderr and TOKEN not in refused.stderr


@pytest.fixture
def trickling_agent() -> Iterator[int]:
    """A fake agent that answers byte by byte (a UTF-8 character split across reads), with a blank line,
    an event and unknown fields: what a real socket may deliver and what receivers must tolerate."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as lines:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            hello = json.loads(lines.readline())
            conn.sendall(json.dumps({"v": 1, "type": "res", "id": hello["id"], "ok": True, "future": 1,
                                     "body": {"epoch": "e1", "seq": 7, "replayed": 0, "gap": False}}).encode() + b"\n")  # fmt: skip
            request = json.loads(lines.readline())
            event = {"v": 1, "type": "evt", "seq": 8, "epoch": "e1", "event": "heartbeat", "body": {}, "x": [1]}
            answer = {"v": 1, "type": "res", "id": request["id"], "ok": True, "body": {"echo": request["op"],
                      "text": "收银台 ✓"}}  # fmt: skip
            wire = (
                b"\n" + json.dumps(event).encode() + b"\r\n" + json.dumps(answer, ensure_ascii=False).encode() + b"\n"
            )
            for byte in wire:
                conn.sendall(bytes([byte]))
                time.sleep(0.002)
            lines.readline()  # the client closing

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    thread.join(timeout=10)
    server.close()


def test_the_framing_survives_a_byte_by_byte_stream(trickling_agent: int, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    done = run_client("--port", str(trickling_agent), "--token-file", str(token), "request", "demo.echo")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"echo": "demo.echo", "text": "收银台 ✓"}


def test_the_node_client_offers_china_time_for_occur_time() -> None:
    script = (f"import {{ chinaTime }} from {json.dumps(CLIENT.as_uri())};"
              "console.log(chinaTime(new Date('2026-12-31T20:30:00Z')));")  # fmt: skip
    done = subprocess.run([node(), "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2027-01-01 04:30:00"
