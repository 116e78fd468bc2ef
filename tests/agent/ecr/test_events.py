"""Events carry a rising seq within an epoch; a reconnecting ECR gets what it missed, or is told of a gap."""

from __future__ import annotations

import json

from agent.ecr.events import EventLog


def seqs(messages: list[bytes]) -> list[int]:
    return [json.loads(m)["seq"] for m in messages]


def test_seq_rises_and_every_event_carries_the_epoch() -> None:
    log = EventLog(epoch="e1")
    first = json.loads(log.append("scan", {"scan_id": "s1"}))
    second = json.loads(log.append("heartbeat", {}))
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["epoch"] == second["epoch"] == "e1"


def test_replay_sends_what_came_after_last_seq() -> None:
    log = EventLog(epoch="e1")
    for i in range(5):
        log.append("scan", {"i": i})
    replay = log.replay(last_seq=3, epoch="e1")
    assert seqs(replay.messages) == [4, 5] and not replay.gap
    assert log.replay(last_seq=5, epoch="e1").messages == []


def test_events_older_than_the_buffer_are_reported_as_a_gap() -> None:
    log = EventLog(keep=3, epoch="e1")
    for i in range(10):
        log.append("scan", {"i": i})
    replay = log.replay(last_seq=2, epoch="e1")
    assert seqs(replay.messages) == [8, 9, 10] and replay.gap
    assert not log.replay(last_seq=7, epoch="e1").gap


def test_another_epoch_means_the_agent_restarted() -> None:
    log = EventLog(epoch="new")
    log.append("sale.updated", {})
    replay = log.replay(last_seq=40, epoch="old")
    assert replay.gap and seqs(replay.messages) == [1]


def test_no_last_seq_means_no_replay() -> None:
    log = EventLog()
    log.append("scan", {})
    assert log.replay(None, None).messages == []
