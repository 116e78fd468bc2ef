"""Connection slots: per-client caps for remote clients, shedding the greedy client's slow connections."""

from __future__ import annotations

from agent.guard import LOOPBACK, Phase, SlotTable


def table(max_open: int = 4, max_per_client: int = 2, max_held: int = 2) -> SlotTable[str]:
    return SlotTable(max_open=max_open, max_per_client=max_per_client, max_held=max_held)


def test_a_remote_client_over_its_cap_is_refused_and_others_still_get_in() -> None:
    slots = table()
    assert slots.admit("10.0.0.5", "a", 0).slot is not None
    assert slots.admit("10.0.0.5", "b", 1).slot is not None

    refused = slots.admit("10.0.0.5", "c", 2)

    assert refused.slot is None and refused.shed == []
    assert slots.admit("10.0.0.6", "d", 3).slot is not None


def test_loopback_has_no_per_client_cap_only_the_global_one() -> None:
    slots = table(max_open=4, max_per_client=1)

    admitted = [slots.admit(LOOPBACK, f"c{i}", i) for i in range(4)]

    assert all(a.slot is not None and a.shed == [] for a in admitted)


def test_when_full_the_oldest_unfinished_connection_of_the_greediest_client_is_shed() -> None:
    slots = table(max_open=3, max_per_client=3)
    slots.admit("10.0.0.9", "other", 0)
    slots.admit(LOOPBACK, "slow-1", 1)
    slots.admit(LOOPBACK, "slow-2", 2)

    newcomer = slots.admit(LOOPBACK, "technician", 3)

    assert newcomer.slot is not None
    assert [s.owner for s in newcomer.shed] == ["slow-1"]
    assert len(slots) == 3


def test_idle_keep_alive_connections_go_before_unfinished_requests() -> None:
    slots = table(max_open=2)
    reading = slots.admit(LOOPBACK, "reading", 0).slot
    idle = slots.admit(LOOPBACK, "idle", 5).slot
    assert reading is not None and idle is not None
    slots.enter(idle, Phase.IDLE, 6)

    assert [s.owner for s in slots.admit(LOOPBACK, "new", 7).shed] == ["idle"]


def test_busy_connections_are_never_shed_and_then_the_newcomer_is_refused() -> None:
    slots = table(max_open=2)
    for name in ("a", "b"):
        slot = slots.admit(LOOPBACK, name, 0).slot
        assert slot is not None
        slots.enter(slot, Phase.BUSY, 0)

    assert slots.admit(LOOPBACK, "c", 1).slot is None


def test_held_answers_have_their_own_pool_and_take_nobody_s_room() -> None:
    slots = table(max_open=2, max_held=10)
    for name in ("a", "b"):
        slot = slots.admit(LOOPBACK, name, 0).slot
        assert slot is not None
        assert slots.enter(slot, Phase.HELD, 0) == []

    fresh = slots.admit(LOOPBACK, "c", 1)

    assert fresh.slot is not None and fresh.shed == []
    assert (slots.open_count, slots.held_count) == (1, 2)


def test_beyond_max_held_the_oldest_held_answer_is_released() -> None:
    slots = table(max_open=10, max_per_client=10, max_held=2)
    held = []
    for i in range(3):
        slot = slots.admit(LOOPBACK, f"h{i}", i).slot
        assert slot is not None
        held.append(slots.enter(slot, Phase.HELD, i))

    assert held[:2] == [[], []]
    assert [s.owner for s in held[2]] == ["h0"]
    assert held[2][0].phase is Phase.BUSY and slots.held_count == 2


def test_held_answers_count_against_a_remote_client_s_cap() -> None:
    slots = table(max_per_client=1)
    slot = slots.admit("10.0.0.5", "a", 0).slot
    assert slot is not None
    slots.enter(slot, Phase.HELD, 0)

    assert slots.admit("10.0.0.5", "b", 1).slot is None


def test_a_released_slot_frees_its_room() -> None:
    slots = table(max_per_client=1)
    slot = slots.admit("10.0.0.5", "a", 0).slot
    assert slot is not None

    slots.release(slot)
    slots.release(slot)  # twice is harmless

    assert slots.count("10.0.0.5") == 0 and slots.admit("10.0.0.5", "b", 1).slot is not None


def test_a_table_for_local_peers_caps_no_client() -> None:
    slots: SlotTable[str] = SlotTable(max_open=2, max_per_client=1, max_held=2, capped=lambda key: False)

    assert slots.admit("uid:1000", "a", 0).slot is not None
    assert slots.admit("uid:1000", "b", 1).slot is not None
    third = slots.admit("uid:1000", "c", 2)
    assert third.slot is not None and [s.owner for s in third.shed] == ["a"]
