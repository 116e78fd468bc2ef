"""kill -9 of the till's daemon between a callback's receipt and its acknowledgement, 20 times at random,
while callbacks keep coming: none is lost, none is applied twice.

Each kill lands, at random, in one of three places:

- before the commit: the database is locked (as another writer or a slow disk would hold it), so the
  callback is received and cannot be committed yet (the link keeps it, unacknowledged) -> kill;
- after the commit, before the broker got the acknowledgement: what the till sends is lost on the
  way (a dying line) once the callback is in the outbox -> kill; the broker must send it again and
  the till must count it as done (`duplicate`), not open a second card;
- anywhere: a callback is sent and the daemon killed a random few milliseconds later.

Alipay is unreachable during the kills, so the outbox sends nothing meanwhile: what is under test is
the link's window (receipt -> commit -> acknowledgement). A kill while card.authorize's oauth.token is
in flight is the outbox's own matter (a used auth_code cannot be exchanged again) and is tested with it.
Once Alipay is back, every card opens once: cards counted at the simulated gateway.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.fleet import FleetTill, fleet_till
from tests.support.gateway import Store as GatewayStore
from tests.support.tcp_proxy import TcpProxy

KILLS = 20
PER_ROUND = 2
DUPLICATES = 'posagent_fleet_messages_settled_total{outcome="duplicate"}'
QUEUED = 'posagent_fleet_messages_settled_total{outcome="queued"}'


def wait_until(condition: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def fleet_count(till: FleetTill, name: str) -> float:
    try:
        return till.metrics().get(name, 0.0)
    except OSError:  # the status page not up yet
        return 0.0


def jobs_in_outbox(till: FleetTill) -> int:
    """Read as a technician's sqlite3 would (WAL: readers never block the agent)."""
    with contextlib.closing(sqlite3.connect(till.root / "state" / "agent.db", timeout=10)) as db:
        return int(db.execute("SELECT count(*) FROM outbox_jobs").fetchone()[0])


@pytest.mark.slow
def test_kill_9_between_receipt_and_acknowledgement_loses_and_duplicates_nothing(
        tmp_path: Path, simulated_gateway: GatewayStore, broker: Broker) -> None:  # fmt: skip
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    print(f"seed {seed}")
    with TcpProxy(("127.0.0.1", broker.port)) as line, \
            fleet_till(tmp_path, simulated_gateway, broker, broker_url=f"mqtts://127.0.0.1:{line.port}") as till:  # fmt: skip
        started = time.monotonic()
        callbacks = [till.enroll(f"K{i}", mobile=f"1370000{i:04d}") for i in range(KILLS * PER_ROUND)]
        print(f"enrolled at {time.monotonic() - started:.0f} s")
        simulated_gateway.gateway.outage(600)
        database = till.root / "state" / "agent.db"
        places: list[str] = []
        for round_ in range(KILLS):
            batch = callbacks[round_ * PER_ROUND:(round_ + 1) * PER_ROUND]
            sent = round_ * PER_ROUND
            # Whatever the last kill left unacknowledged is redelivered and settled first (each is one job).
            wait_until(lambda: jobs_in_outbox(till) == sent, f"the {sent} callbacks sent so far are queued")  # noqa: B023
            received = fleet_count(till, "posagent_fleet_messages_received_total")
            # Not the acknowledgements: a redelivery left by the last kill may still be recognised (and
            # acknowledged) during this round; what must not happen under the lock is a commit.
            queued = fleet_count(till, QUEUED)
            place = rng.choice(["before commit", "after commit", "anywhere"])
            places.append(place)
            if place == "before commit":
                with contextlib.closing(sqlite3.connect(database, timeout=10, isolation_level=None)) as lock:
                    lock.execute("BEGIN IMMEDIATE")  # the outbox cannot commit
                    for params in batch:
                        till.relay.send(till.till, params)
                    wait_until(lambda: fleet_count(till, "posagent_fleet_messages_received_total")
                               >= received + len(batch), "the till received the callbacks")  # fmt: skip  # noqa: B023
                    assert fleet_count(till, QUEUED) == queued  # none committed
                    time.sleep(rng.uniform(0, 0.3))
                    till.daemon.kill()
                    lock.execute("ROLLBACK")
            elif place == "after commit":
                before = jobs_in_outbox(till)
                line.lose_outbound()  # the till's acknowledgements never reach the broker
                for params in batch:
                    till.relay.send(till.till, params)
                wait_until(lambda: jobs_in_outbox(till) >= before + len(batch), "the callbacks were committed")  # noqa: B023
                till.daemon.kill()
            else:
                for params in batch:
                    till.relay.send(till.till, params)
                time.sleep(rng.uniform(0, 0.2))
                till.daemon.kill()
            line.thaw()
            till.daemon.start()
            if place == "after commit":  # the broker sent them again, and the till knew them
                wait_until(lambda: fleet_count(till, DUPLICATES) >= PER_ROUND, "the redeliveries were recognised")
        print(f"kills done at {time.monotonic() - started:.0f} s")
        simulated_gateway.gateway.set_faults({})  # Alipay is back
        request_ids = sorted(p["request_id"] for p in callbacks)
        cards = till.wait_for_cards(len(callbacks), timeout=120)
        print(f"cards at {time.monotonic() - started:.0f} s")
        with till.daemon.ecr() as ecr:
            dead = ecr.request("outbox.list", {"state": "dead", "limit": 500})["jobs"]
        assert dead == [], (seed, dead)
        assert len(cards) == len(callbacks), (seed, places, len(cards))
        print(f"kills: {places.count('before commit')} before the commit, {places.count('after commit')} after it "
              f"(acknowledgement lost), {places.count('anywhere')} at a random moment")
        assert len({c["out_serial_no"] for c in cards}) == len(request_ids)
        assert till.calls("alipay.marketing.card.open") == len(callbacks)  # no card opening sent twice
