"""The fleet view: the newest status per till, foreign or malformed ones dropped, sick tills first."""

from __future__ import annotations

from agent.fleet.messages import DeviceState, TillStatus, encode_status
from agent.fleet.topics import TillRef
from relay.fleet_view import NEVER_SEEN, FleetView


def status(store: str, till: str, **fields: object) -> tuple[str, bytes]:
    ref = TillRef("acme", store, till)
    return ref.status_topic, encode_status(TillStatus(ref, **{"online": True, "at": 1.0, **fields}))  # type: ignore[arg-type]


def test_the_newest_status_counts_and_an_empty_retained_message_removes_the_till() -> None:
    view = FleetView("acme")
    assert view.update(*status("S1", "T1", online=True))
    assert view.update(*status("S1", "T1", online=False, reason="stopped"))
    assert [r.problems for r in view.rows()] == [("offline (stopped)",)]
    assert view.update(TillRef("acme", "S1", "T1").status_topic, b"")
    assert view.rows() == []


def test_foreign_and_malformed_statuses_are_dropped_and_counted() -> None:
    view = FleetView("acme")
    other_chain = TillRef("other", "S1", "T1")
    topic, payload = status("S1", "T2")
    assert not view.update(other_chain.status_topic, encode_status(TillStatus(other_chain, True, 1.0)))
    assert not view.update(TillRef("acme", "S1", "T1").status_topic, payload)  # names another till than its topic
    assert not view.update(TillRef("acme", "S1", "T1").callback_topic, payload)
    assert not view.update("posagent/acme/S1/T1/status/extra", payload)
    assert not view.update(topic, b"{" * 100_000)
    assert not view.update(topic, b"\xff\xfe")
    assert view.rejected == 6 and len(view) == 0


def test_rows_put_the_sick_first_and_list_the_never_seen() -> None:
    view = FleetView("acme")
    for topic, payload in (status("S1", "T1"), status("S1", "T2", outbox_dead=3),
                           status("S2", "T1", online=False, reason="connection lost"),
                           status("S3", "T1", devices=(DeviceState("scanner", "scanner", "disconnected"),),
                                  outbox_dead=1)):  # fmt: skip
        view.update(topic, payload)
    rows = view.rows(provisioned=["S1-T1", "S4-T1", "not-a-till-name", "fleet"])
    assert [(r.till.name, r.problems) for r in rows] == [
        ("S2-T1", ("offline (connection lost)",)),
        ("S4-T1", (NEVER_SEEN,)),
        ("S3-T1", ("1 dead job(s)", "scanner scanner: disconnected")),
        ("S1-T2", ("3 dead job(s)",)),
        ("S1-T1", ()),
    ]
    summary = view.summary(["S4-T1"])
    assert (summary.online, summary.offline, summary.never_seen, summary.device_problems) == (3, 1, 1, 1)
    assert summary.stores_online == 2 and summary.stores["S1"].dead == 3 and summary.stores["S4"].tills == 1
