"""The fleet link's messages: a callback opens only under its till's key on its till's topic; a status
carries no secret and a hostile one is refused or tamed, never a crash."""

from __future__ import annotations

import json
import os

import pytest

from agent.daemon.devices import WORKING_STATES
from agent.fleet.messages import (
    WORKING_DEVICE_STATES,
    Authorization,
    CallbackMessage,
    DeviceState,
    FleetMessageError,
    TillStatus,
    decode_status,
    encode_status,
    open_callback,
    problems,
    seal_callback,
)
from agent.fleet.topics import TillRef, TopicError, parse, status_filter

KEY, OTHER_KEY = os.urandom(32), os.urandom(32)
T1 = TillRef("acme", "S1", "T1")
T2 = TillRef("acme", "S1", "T2")
PARAMS = {"auth_code": "7f3dc16c1f8641a39e8a27f95abcQX20", "template_id": "20170614000000000286130000301234",
          "request_id": "20190508010231370623158141234", "out_string": "v1.S1.T1.E1.AAAAAAAAAAAAAAAAAAAAAA"}


def sealed(message: CallbackMessage, topic: str = T1.callback_topic, key: bytes = KEY) -> bytes:
    return seal_callback(key, topic, message, os.urandom(12))


def test_a_callback_round_trips_and_its_secrets_stay_out_of_reprs() -> None:
    auth = Authorization("authusrB94739c226e9c400196af5bc4740a9X01", "2088102169481075", 1296000, 1.5)
    message = CallbackMessage("m1", 12.5, PARAMS, auth)
    payload = sealed(message)
    assert open_callback(KEY, T1.callback_topic, payload) == message
    assert PARAMS["auth_code"].encode() not in payload and b"authusr" not in payload  # sealed, not just signed
    assert PARAMS["auth_code"] not in repr(message) and "authusr" not in repr(message)


@pytest.mark.parametrize("case", ["other key", "other till's topic", "flipped byte", "truncated", "plain json",
                                  "empty", "oversized"])  # fmt: skip
def test_anything_but_our_sealed_callback_is_refused_with_a_clear_error(case: str) -> None:
    payload = sealed(CallbackMessage("m1", 1.0, PARAMS))
    key, topic = KEY, T1.callback_topic
    if case == "other key":
        key = OTHER_KEY
    elif case == "other till's topic":
        topic = T2.callback_topic
    elif case == "flipped byte":
        payload = payload[:-1] + bytes([payload[-1] ^ 1])
    elif case == "truncated":
        payload = payload[:20]
    elif case == "plain json":
        payload = json.dumps({"v": 1, "params": PARAMS}).encode()
    elif case == "empty":
        payload = b""
    else:
        payload = b"\x01" + os.urandom(20_000)
    with pytest.raises(FleetMessageError) as refused:
        open_callback(key, topic, payload)
    assert PARAMS["auth_code"] not in str(refused.value)


@pytest.mark.parametrize(
    "body",
    [
        {"v": 2, "id": "m", "received_at": 1, "params": {}},
        {"v": 1, "id": "m/1", "received_at": 1, "params": {}},
        {"v": 1, "id": "m", "received_at": float("inf"), "params": {}},
        {"v": 1, "id": "m", "received_at": True, "params": {}},
        {"v": 1, "id": "m", "received_at": 1, "params": {"a": 1}},
        {"v": 1, "id": "m", "received_at": 1, "params": {f"p{i}": "x" for i in range(21)}},
        {"v": 1, "id": "m", "received_at": 1, "params": {}, "authorization": {"access_token": "t"}},
        [1, 2, 3],
    ],
)
def test_a_sealed_body_of_the_wrong_shape_is_refused(body: object) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    plain = json.dumps(body, allow_nan=True).encode()
    payload = b"\x01" + nonce + AESGCM(KEY).encrypt(nonce, plain, T1.callback_topic.encode())
    with pytest.raises(FleetMessageError):
        open_callback(KEY, T1.callback_topic, payload)


def test_a_status_round_trips_and_tells_what_is_wrong() -> None:
    status = TillStatus(T1, online=True, at=5.0, version="0.1.0", alipay_online=True, outbox_pending=3,
                        outbox_dead=1, oldest_pending_age=700.0,
                        devices=(DeviceState("printer", "printer", "paper_end"),
                                 DeviceState("/dev/ttyACM0", "scanner", "connected")))  # fmt: skip
    decoded = decode_status(T1, encode_status(status))
    assert decoded == status
    assert problems(decoded) == ["1 dead job(s)", "backlog: 3 pending, oldest 700 s", "printer printer: paper_end"]
    assert problems(TillStatus(T1, online=True, at=1.0)) == []
    assert problems(TillStatus(T1, online=False, at=1.0, reason="connection lost"))[0] == "offline (connection lost)"


def test_a_status_naming_another_till_or_malformed_is_refused_and_odd_fields_are_tamed() -> None:
    good = json.loads(encode_status(TillStatus(T1, online=True, at=5.0)))
    with pytest.raises(FleetMessageError):
        decode_status(T2, json.dumps(good).encode())
    for bad in (b"", b"[]", b"{" * 5000, json.dumps({**good, "online": "yes"}).encode()):
        with pytest.raises(FleetMessageError):
            decode_status(T1, bad)
    odd = {**good, "outbox": {"pending": -4, "dead": True}, "devices": [{"device": "x\x1b[2J", "state": 7}, 5],
           "last_error": "e" * 10_000, "extra": {"ignored": 1}}  # fmt: skip
    tamed = decode_status(T1, json.dumps(odd).encode())
    assert (tamed.outbox_pending, tamed.outbox_dead) == (0, 0)
    assert tamed.devices == (DeviceState("x?[2J", "?", "?"),)
    assert tamed.last_error is not None and len(tamed.last_error) == 200


def test_the_fleet_view_counts_as_working_what_the_agent_does() -> None:
    assert set().union(*WORKING_STATES.values()) == WORKING_DEVICE_STATES


def test_topics_fence_each_till_and_carry_no_wildcards() -> None:
    assert T1.callback_topic == "posagent/acme/S1/T1/callback"
    assert parse("posagent/acme/S1/T1/status") == (T1, "status")
    assert status_filter("acme") == "posagent/acme/+/+/status"
    for bad in ("S+", "S#", "S/1", "", "S" * 17, "Ｓ1"):
        with pytest.raises(TopicError):
            TillRef("acme", bad, "T1")
    for topic in ("posagent/acme/S1/T1/other", "x/acme/S1/T1/status", "posagent/acme/S1/status"):
        with pytest.raises(TopicError):
            parse(topic)
