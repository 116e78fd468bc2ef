"""Whether a WebSocket handshake is upgraded, sans I/O: path, Host (DNS rebinding) and Origin."""

from __future__ import annotations

import pytest

from agent.ecr.handshake import Accept, Reject, decide, host_is_loopback
from agent.ecr.origins import OriginBook

POS = "https://pos.example.com"
T0 = 1_800_000_000.0


def paired_book() -> OriginBook:
    book = OriginBook()
    code = book.start_pairing(POS, T0, lambda n: bytes(range(n)))
    book.pair(POS, code, T0, bytes)
    return book


def test_a_paired_origin_on_the_loopback_host_is_upgraded() -> None:
    decision = decide(target="/ecr", host="127.0.0.1:7412", origin="HTTPS://pos.example.com:443", port=7412,
                      book=paired_book(), now=T0)  # fmt: skip
    assert decision == Accept(POS)


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1:7412", True), ("[::1]:7412", True), ("LOCALHOST:7412", True), ("127.0.0.1:7413", False),
    ("127.0.0.1", False), ("evil.example:7412", False), ("127.0.0.2:7412", False), ("", False),
])  # fmt: skip
def test_only_this_listeners_loopback_names_are_hosts(host: str, ok: bool) -> None:
    assert host_is_loopback(host, 7412) is ok


def test_refusals_say_why() -> None:
    book = paired_book()

    def refused(**kw: object) -> Reject:
        args: dict[str, object] = {"target": "/ecr", "host": "127.0.0.1:1", "origin": POS, "port": 1, "book": book,
                                   "now": T0} | kw  # fmt: skip
        decision = decide(**args)  # type: ignore[arg-type]
        assert isinstance(decision, Reject)
        return decision

    assert refused(target="/").status == 404
    assert refused(host="rebound.example:1").status == 403
    assert refused(origin=None).status == 403
    assert refused(origin="null").status == 403
    unpaired = refused(origin="https://evil.example")
    assert (unpaired.status, unpaired.text) == (403, "origin not paired: run posagent ecr pair --origin "
                                                     "https://evil.example")  # fmt: skip


def test_an_origin_with_a_pending_code_may_connect_to_pair() -> None:
    book = OriginBook()
    book.start_pairing("https://new.example", T0, lambda n: bytes(range(n)))
    assert decide(target="/ecr", host="localhost:1", origin="https://new.example", port=1, book=book,
                  now=T0) == Accept("https://new.example")  # fmt: skip
