"""A connection's life: hello with the token first, then requests; bad input never ends it, HTTP does."""

from __future__ import annotations

import json

from agent.ecr.session import Authenticated, Close, Handle, Pair, Refuse, Send, Session, State

TOKEN = "s3cret-token"


def hello(token: str = TOKEN, **extra: object) -> bytes:
    return json.dumps({"v": 1, "type": "req", "id": "h", "op": "hello", "body": {"token": token, **extra}}).encode() + b"\n"


def req(op: str, rid: str = "r1") -> bytes:
    return json.dumps({"v": 1, "type": "req", "id": rid, "op": op, "body": {}}).encode() + b"\n"


def error_code(action: object) -> str:
    assert isinstance(action, Send)
    return str(json.loads(action.data)["error"]["code"])


def test_hello_with_the_token_authenticates_then_requests_are_handed_on() -> None:
    session = Session(TOKEN, opened_at=0.0)
    (auth,) = session.receive(hello(client="till-1", last_seq=5, epoch="e1"))
    assert isinstance(auth, Authenticated)
    assert (auth.client, auth.last_seq, auth.epoch) == ("till-1", 5, "e1")
    (handle,) = session.receive(req("status.get"))
    assert isinstance(handle, Handle) and handle.request.op == "status.get"


def test_a_client_name_with_control_characters_or_too_long_is_ignored_not_refused() -> None:
    for name in ("till-1\x1b[31m", "till\nFAKE LOG LINE", "x" * 65, 42):
        (auth,) = Session(TOKEN, opened_at=0.0).receive(hello(client=name))
        assert isinstance(auth, Authenticated) and auth.client == ""
    (auth,) = Session(TOKEN, opened_at=0.0).receive(hello(client="收银台 1"))
    assert isinstance(auth, Authenticated) and auth.client == "收银台 1"


def test_requests_before_hello_are_unauthorized_but_the_connection_stays() -> None:
    session = Session(TOKEN, opened_at=0.0)
    (answer,) = session.receive(req("sale.start"))
    assert error_code(answer) == "UNAUTHORIZED"
    assert session.state is State.AWAITING_HELLO
    assert isinstance(session.receive(hello())[0], Authenticated)


def test_a_wrong_token_is_refused_for_the_shell_to_answer_late_and_close() -> None:
    session = Session(TOKEN, opened_at=0.0)
    (refuse,) = session.receive(hello("guess") + hello())
    assert isinstance(refuse, Refuse)
    assert json.loads(refuse.data)["error"]["code"] == "UNAUTHORIZED" and b"guess" not in refuse.data
    assert session.state is State.CLOSED
    assert session.receive(hello()) == []  # nothing after a wrong token, not even the right one


def test_no_hello_within_the_deadline_closes() -> None:
    session = Session(TOKEN, opened_at=100.0)
    assert session.tick(104.9) == []
    answer, close = session.tick(105.0)
    assert error_code(answer) == "UNAUTHORIZED" and isinstance(close, Close)


def test_http_closes_at_once_even_after_hello() -> None:
    session = Session(TOKEN, opened_at=0.0)
    session.receive(hello())
    (close,) = session.receive(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert isinstance(close, Close)


def test_malformed_lines_get_errors_and_later_lines_are_served() -> None:
    session = Session(TOKEN, opened_at=0.0)
    session.receive(hello())
    actions = session.receive(b"{oops\n" + b"x" * 70_000 + b"\n" + req("status.get"))
    assert [error_code(a) for a in actions[:2]] == ["BAD_REQUEST", "BAD_REQUEST"]
    assert isinstance(actions[2], Handle)


def test_a_second_hello_is_refused_and_bad_last_seq_is_a_bad_request() -> None:
    session = Session(TOKEN, opened_at=0.0)
    (bad,) = session.receive(hello(last_seq=-1))
    assert error_code(bad) == "BAD_REQUEST"
    session.receive(hello())
    (again,) = session.receive(hello())
    assert error_code(again) == "BAD_REQUEST"


# --- the WebSocket's sessions: whole messages, their own token check, pairing before hello


def message(op: str, body: dict[str, object]) -> bytes:
    return json.dumps({"v": 1, "type": "req", "id": "m", "op": op, "body": body}).encode()


def origin_tokens(token: str) -> str | None:
    return None if token == "wpo_good" else "wrong or revoked token for this origin"


def test_a_websocket_session_takes_whole_messages_and_checks_tokens_its_own_way() -> None:
    shared_refused = Session(TOKEN, 0.0, check_token=origin_tokens, pairing=True)
    (refuse,) = shared_refused.message(message("hello", {"token": TOKEN}))
    assert isinstance(refuse, Refuse) and "revoked" in refuse.reason and shared_refused.state is State.CLOSED
    session = Session(TOKEN, 0.0, check_token=origin_tokens, pairing=True)
    pretty = b'{\n  "v": 1, "type": "req", "id": "h",\n  "op": "hello", "body": {"token": "wpo_good"}\n}'
    (auth,) = session.message(pretty)  # a message may hold newlines: no line framing here
    assert isinstance(auth, Authenticated)


def test_pair_is_handed_to_the_shell_before_hello_only_where_pairing_is_on() -> None:
    session = Session(TOKEN, 0.0, check_token=origin_tokens, pairing=True)
    (pair,) = session.message(message("pair", {"code": "ABCD-EFGH"}))
    assert isinstance(pair, Pair) and pair.code == "ABCD-EFGH" and session.state is State.AWAITING_HELLO
    (bad,) = session.message(message("pair", {"code": 12345678}))
    assert error_code(bad) == "BAD_REQUEST"
    (no_pairing,) = Session(TOKEN, 0.0).receive(message("pair", {"code": "ABCD-EFGH"}) + b"\n")
    assert error_code(no_pairing) == "UNAUTHORIZED"  # on TCP, pair is just a request before hello
