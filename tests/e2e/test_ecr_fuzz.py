"""100,000 generated bad lines over several connections: the daemon answers each with the right code.

Invalid JSON, wrong types, huge numbers, deep nesting, invalid UTF-8, 1 MB lines, unknown ops, ops
before hello, HTTP requests. Meanwhile a good client on its own connection keeps being served, and
afterwards the daemon has no connection left open from the fuzzers.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

from tests.support.daemon import TOKEN, Daemon

LINES_TOTAL = 100_000
CONNECTIONS = 4
BATCH = 500


def _req(op: str, body: object = None, rid: object = "f") -> bytes:  # rid None: unusable on purpose
    message: dict[str, object] = {"v": 1, "type": "req", "id": rid, "op": op}
    if body is not None:
        message["body"] = body
    return json.dumps(message).encode()


# Each generator takes (rng, request id) and returns (line, expected error code). Lines whose id is
# unusable are answered with id null, in order; the others are matched by their unique id (answers to
# ops run concurrently and may overtake direct errors).
Gen = Callable[[random.Random, str], tuple[bytes, str]]
GENERATORS: list[Gen] = [
    # Printable garbage (never blank: blank lines are skipped without an answer, by design).
    lambda r, i: (b"~" + bytes(r.randrange(32, 127) for _ in range(r.randrange(0, 60))).replace(b"{", b"("),
                  "BAD_REQUEST"),
    lambda r, i: (b"\xff\xfe" + bytes(r.randrange(128, 256) for _ in range(10)), "BAD_REQUEST"),
    lambda r, i: (b"[" * r.randrange(2000, 20000) + b"]" * 10, "BAD_REQUEST"),
    lambda r, i: (b'{"v":1,"type":"req","id":' + b"9" * r.randrange(5000, 9000) + b',"op":"x"}', "BAD_REQUEST"),
    lambda r, i: (json.dumps(r.choice([[], 1, "s", None, True])).encode(), "BAD_REQUEST"),
    lambda r, i: (json.dumps({"v": r.choice([0, 2, "1", None, 1.5]), "type": "req", "id": i, "op": "x"}).encode(),
                  "UNSUPPORTED_VERSION"),
    lambda r, i: (_req("sale.start", {"sale_id": r.choice([1, [], "", "a" * 300, "bad id!"]), "amount": "1",
                                      "subject": "s"}, i), "BAD_REQUEST"),
    lambda r, i: (_req("sale.start", {"sale_id": "Z1", "amount": r.choice(["0", "-1", "1e9", "abc", "1.001"]),
                                      "subject": "s"}, i), "BAD_REQUEST"),
    lambda r, i: (_req("sale.start", r.choice([[1], "body", 5]), i), "BAD_REQUEST"),
    lambda r, i: (_req("x" * r.randrange(1, 30), None, i), "UNKNOWN_OP"),
    lambda r, i: (_req("sale.get", {"sale_id": f"nope{r.randrange(10**6)}"}, i), "NOT_FOUND"),
    lambda r, i: (_req("outbox.retry", {"id": r.choice(["1", None, 1.5, True])}, i), "BAD_REQUEST"),
    lambda r, i: (_req("hello", {"token": TOKEN}, i), "BAD_REQUEST"),  # already authenticated
]  # fmt: skip


def fuzz_connection(daemon: Daemon, seed: int, lines: int, results: Counter[str], failures: list[str]) -> None:
    rng = random.Random(seed)
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        reader = sock.makefile("rb")
        # Before hello: any op is UNAUTHORIZED and the connection stays.
        sock.sendall(_req("status.get") + b"\n")
        first = json.loads(reader.readline())
        if first["error"]["code"] != "UNAUTHORIZED":
            failures.append(f"before hello: {first}")
        sock.sendall(_req("hello", {"token": TOKEN}, "h") + b"\n")
        json.loads(reader.readline())
        sent = 0
        while sent < lines:
            by_id: dict[str, tuple[bytes, str]] = {}
            anonymous: deque[tuple[bytes, str]] = deque()
            batch = []
            for n in range(min(BATCH, lines - sent)):
                rid = f"s{seed}-{sent + n}"
                line, code = GENERATORS[rng.randrange(len(GENERATORS))](rng, rid)
                batch.append(line)
                (by_id.__setitem__(rid, (line, code)) if rid.encode() in line else anonymous.append((line, code)))
            if rng.random() < 0.02:
                batch.append(b"x" * (1024 * 1024))  # a 1 MB line
                anonymous.append((b"x" * 80, "BAD_REQUEST"))
            # Send from another thread while this one reads: the agent stops reading from a client
            # that does not read its answers (backpressure), so a blocking send here would deadlock.
            sender = threading.Thread(target=sock.sendall, args=(b"".join(line + b"\n" for line in batch),))
            sender.start()
            for _ in range(len(batch)):
                reply = json.loads(reader.readline())
                while reply.get("type") == "evt":
                    reply = json.loads(reader.readline())
                got = "OK" if reply.get("ok") else reply["error"]["code"]
                rid = reply.get("id")
                line, code = by_id.pop(rid) if rid in by_id else anonymous.popleft()
                results[got] += 1
                if got != code and len(failures) < 20:
                    failures.append(f"{line[:80]!r}: expected {code}, got {got}")
            sender.join()
            sent += len(batch)


def test_a_hundred_thousand_bad_lines(daemon: Daemon) -> None:
    results: Counter[str] = Counter()
    failures: list[str] = []
    per_connection = LINES_TOTAL // CONNECTIONS
    workers = [threading.Thread(target=fuzz_connection, args=(daemon, seed, per_connection, results, failures))
               for seed in range(CONNECTIONS)]  # fmt: skip
    served = 0
    for worker in workers:
        worker.start()
    with daemon.ecr() as good:
        while any(w.is_alive() for w in workers):
            assert good.request("status.get")["network"]["online"] in (True, False)
            served += 1
            time.sleep(0.05)
    for worker in workers:
        worker.join()
    assert not failures, failures
    assert sum(results.values()) >= LINES_TOTAL
    assert served > 0
    # HTTP on the ECR port closes that connection, and only that one.
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as browser:
        browser.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert browser.recv(100) == b""
    with daemon.ecr() as after:
        status = after.request("status.get")
        assert status["ecr_connections"] == 1, "fuzzer connections leaked"
    assert daemon.process is not None and daemon.process.poll() is None
