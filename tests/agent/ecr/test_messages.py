"""Request validation: each malformed line maps to the stable error code the ECR sees."""

from __future__ import annotations

import json

import pytest

from agent.ecr.messages import (
    ErrorCode,
    ProtocolError,
    Request,
    error_response,
    event_message,
    ok_response,
    parse_request,
)


def test_a_valid_request_parses_and_unknown_fields_are_ignored() -> None:
    line = b'{"v":1,"type":"req","id":"r1","op":"status.get","body":{"x":1},"future":true}'
    assert parse_request(line) == Request("r1", "status.get", {"x": 1})


def test_body_defaults_to_empty() -> None:
    assert parse_request(b'{"v":1,"type":"req","id":7,"op":"status.get"}').body == {}


@pytest.mark.parametrize(
    ("line", "code", "echoed_id"),
    [
        (b"\xff\xfe", ErrorCode.BAD_REQUEST, None),
        (b"not json", ErrorCode.BAD_REQUEST, None),
        (b"[1,2]", ErrorCode.BAD_REQUEST, None),
        (b"[" * 100_000 + b"]" * 100_000, ErrorCode.BAD_REQUEST, None),
        (b'{"v":1,"type":"req","id":' + b"9" * 5000 + b',"op":"x"}', ErrorCode.BAD_REQUEST, None),
        (b'{"v":2,"type":"req","id":"a","op":"x"}', ErrorCode.UNSUPPORTED_VERSION, "a"),
        (b'{"v":true,"type":"req","id":"a","op":"x"}', ErrorCode.UNSUPPORTED_VERSION, "a"),
        (b'{"v":1,"type":"evt","id":"a","op":"x"}', ErrorCode.BAD_REQUEST, "a"),
        (b'{"v":1,"type":"req","id":true,"op":"x"}', ErrorCode.BAD_REQUEST, None),
        (b'{"v":1,"type":"req","id":"","op":"x"}', ErrorCode.BAD_REQUEST, None),
        (b'{"v":1,"type":"req","id":99999999999999999999,"op":"x"}', ErrorCode.BAD_REQUEST, None),
        (b'{"v":1,"type":"req","id":"a","op":5}', ErrorCode.BAD_REQUEST, "a"),
        (b'{"v":1,"type":"req","id":"a","op":"x","body":[1]}', ErrorCode.BAD_REQUEST, "a"),
    ],
)
def test_malformed_requests_get_their_error_code(line: bytes, code: ErrorCode, echoed_id: str | None) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_request(line)
    assert info.value.code is code
    assert info.value.id == echoed_id


def test_responses_and_events_are_single_lines_of_utf8_json() -> None:
    ok = ok_response("r1", {"name": "李飞"})
    assert ok.endswith(b"\n") and ok.count(b"\n") == 1
    assert json.loads(ok) == {"v": 1, "type": "res", "id": "r1", "ok": True, "body": {"name": "李飞"}}
    err = json.loads(error_response("r2", ErrorCode.BUSY, "a sale is active"))
    assert err["error"] == {"code": "BUSY", "message": "a sale is active", "retryable": True}
    assert json.loads(error_response(None, ErrorCode.BAD_REQUEST, "x"))["error"]["retryable"] is False
    evt = json.loads(event_message(3, "e1", "scan", {"scan_id": "s1"}))
    assert (evt["type"], evt["seq"], evt["epoch"], evt["event"]) == ("evt", 3, "e1", "scan")


@pytest.mark.parametrize(
    "line",
    [
        rb'{"v":1,"type":"req","id":"\ud800","op":"status.get"}',  # the id the answer would echo
        rb'{"v":1,"type":"req","id":"h1","op":"hello","body":{"token":"\udfff"}}',  # compared as UTF-8
        rb'{"v":1,"type":"req","id":"r1","op":"sale.start","body":{"subject":"a\ud83d"}}',  # stored
        rb'{"v":1,"type":"req","id":"r1","op":"x","body":{"\udc00":1}}',
    ],
)
def test_a_lone_surrogate_escape_is_refused_before_anything_uses_it(line: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_request(line)
    assert info.value.code is ErrorCode.BAD_REQUEST and info.value.id is None
    error_response(info.value.id, info.value.code, info.value.message).decode("utf-8")  # the answer encodes


def test_a_surrogate_pair_is_an_ordinary_character() -> None:
    request = parse_request(rb'{"v":1,"type":"req","id":"r1","op":"x","body":{"s":"\ud83d\ude00 \\ud800"}}')
    assert request.body == {"s": "\U0001f600 \\ud800"}
    assert ok_response(request.id, request.body).decode("utf-8")


def test_a_full_disk_is_its_own_retryable_code() -> None:
    error = json.loads(error_response("r1", ErrorCode.STORAGE_FULL, "the disk is full"))["error"]
    assert error == {"code": "STORAGE_FULL", "message": "the disk is full", "retryable": True}
