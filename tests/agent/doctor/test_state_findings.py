"""The doctor on the agent's state: its folder, its disk, databases moved aside as corrupt, the socket's group,
the callback's port and a scanner the running agent holds. Each finding gives the right cause and fix."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import serial

from agent.cli.main import main
from agent.daemon.callback import CallbackServer
from agent.doctor import Context, run_doctor
from agent.members.open_card import CallbackError
from agent.members.service import Callback
from offline_queue import CorruptDatabase, Outbox
from tests.agent.doctor.conftest import Setup, statuses
from tests.support.corrupt import damage_an_index, plant_jobs
from tests.support.daemon import Store


def use_state_dir(setup: Setup, state_dir: Path) -> None:
    setup.edit_config('state_dir = "state"', f'state_dir = "{state_dir}"')


def test_state_dir_that_is_a_file_is_named_not_taken_for_a_new_install(setup: Setup) -> None:
    state = setup.root / "elsewhere"
    state.write_text("a file")
    use_state_dir(setup, state)
    found = setup.findings("database")
    assert found["state_dir"].status == "FAIL" and "is a file, not a directory" in found["state_dir"].message
    assert found["database"].status == "FAIL" and "does not exist yet" not in found["database"].message
    assert found["database"].fix is not None and "set [paths] state_dir to a directory" in found["database"].fix


def test_read_only_state_dir_says_remount(setup: Setup, mounted_tmpfs: Callable[[str], Path]) -> None:
    state = mounted_tmpfs("size=4m")
    Outbox.open(state / "agent.db").close()
    subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
    use_state_dir(setup, state)
    found = setup.findings("database")
    assert found["state_dir"].status == "FAIL" and "read-only file system" in found["state_dir"].message
    for name in ("state_dir", "database"):
        fix = found[name].fix or ""
        if found[name].status == "FAIL":
            assert "remount it read-write" in fix and "as root" not in fix, found[name]


def test_read_only_state_dir_without_a_database(setup: Setup, mounted_tmpfs: Callable[[str], Path]) -> None:
    use_state_dir(setup, mounted_tmpfs("ro,size=1m"))
    found = setup.findings("database")
    assert statuses(found, ["state_dir", "database"]) == {"state_dir": "FAIL", "database": "FAIL"}
    assert "does not exist yet" not in found["database"].message


def test_full_disk_says_disk_full_and_where(setup: Setup, mounted_tmpfs: Callable[[str], Path]) -> None:
    disk = mounted_tmpfs("size=4m")
    with Outbox.open(disk / "agent.db") as outbox:
        outbox.enqueue("k", {"n": 1}, idempotency_key="k-1")
    with (disk / "filler").open("wb", buffering=0) as filler, pytest.raises(OSError):
        while True:
            filler.write(b"\0" * 65536)
    use_state_dir(setup, disk)
    found = setup.findings("database")
    assert found["disk"].status == "FAIL"
    assert found["disk"].message.startswith(f"disk full: free space on {disk}")
    for finding in found.values():
        assert "as root" not in (finding.fix or ""), finding


def test_a_database_moved_aside_is_reported_with_its_jobs_and_recovered(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    key = setup.root / "keys" / "outbox.key"
    setup.database.unlink()
    plant_jobs(setup.database, key)
    damage_an_index(setup.database)
    with pytest.raises(CorruptDatabase) as info:  # the agent's start moves it aside and begins anew
        Outbox.open(setup.database, key_file=key)
    moved = info.value.moved_to
    assert moved is not None
    Outbox.open(setup.database, key_file=key).close()

    found = setup.findings("database")
    finding = found[f"database.moved:{moved.name}"]
    assert finding.status == "FAIL"
    assert "3 job(s) in it were still to be sent, 1 dead" in finding.message
    assert finding.fix is not None and f"posagent queue recover {moved}" in finding.fix
    assert found["database"].status == "OK"  # the new database is fine: the moved one is what needs a person

    assert main(["queue", "recover", str(moved), "--config", str(setup.config), "--db", str(setup.database)]) == 0
    out = capsys.readouterr().out
    assert "3 job(s) queued again" in out and "1 dead job(s) left out" in out
    assert not any(name.startswith("database.moved") for name in setup.findings("database"))
    with Outbox.open(setup.database, key_file=key) as live:
        assert {job.idempotency_key for job in live.list(state="pending")} == {"upd-1", "open-1", "cancel-1"}


def test_a_database_newer_than_this_agent_says_roll_forward_or_restore(setup: Setup) -> None:
    with sqlite3.connect(setup.database) as db:
        db.execute("UPDATE outbox_meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    finding = setup.findings("database")["database"]
    assert finding.status == "FAIL" and "schema version 99 is newer" in finding.message
    assert finding.fix is not None and "restore the copy kept before the upgrade" in finding.fix


def test_unknown_socket_group_and_a_service_user_outside_it(setup: Setup) -> None:
    setup.edit_config("heartbeat_seconds = 1.0", 'heartbeat_seconds = 1.0\nunix_group = "no-such-group-x"')
    found = setup.findings("ecr")
    assert found["ecr.group"].status == "FAIL" and "'no-such-group-x' does not exist" in found["ecr.group"].message
    group = next(line.split(":")[0] for line in Path("/etc/group").read_text().splitlines()
                 if line.split(":")[2] not in ("0", "65534"))  # fmt: skip
    setup.edit_config('unix_group = "no-such-group-x"', f'unix_group = "{group}"')
    report = run_doctor(context=Context(setup.config, service_user="nobody", production=True), only=["ecr"])
    finding = next(f for f in report.findings if f.name == "ecr.group")
    assert finding.status == "FAIL" and f"nobody is not a member of group {group!r}" in finding.message
    assert finding.fix == f"run: usermod -aG {group} nobody, then restart the agent"


MEMBERS = '\n[members]\ntemplate_id = "20240101000000000001"\n\n[callback]\nport = {port}\n'


def test_callback_port_free_taken_or_served_by_the_agent(setup: Setup) -> None:
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]
        setup.config.write_text(setup.config.read_text() + MEMBERS.format(port=port))
        found = setup.findings("callback")
        assert found["callback.port"].status == "FAIL"
        assert "in use by another program" in found["callback.port"].message
        assert f"sport = :{port}" in (found["callback.port"].fix or "")
    assert setup.findings("callback")["callback.port"].status == "OK"  # free again: the agent is stopped

    class Refusing:  # the member service's first check, as it refuses a GET without parameters
        def parse_callback(self, params: Mapping[str, object]) -> Callback:
            raise CallbackError("auth_code is required")

        def check_callback(self, callback: Callback) -> None: ...

        def queue_callback(self, callback: Callback) -> object: ...

    async def with_agent_endpoint() -> str:
        server = CallbackServer("127.0.0.1", port, "/alipay/open-card", Refusing())
        await server.start()
        try:
            found = await asyncio.to_thread(setup.findings, "callback")
        finally:
            await server.close()
        return f"{found['callback.port'].status}: {found['callback.port'].message}"

    assert asyncio.run(with_agent_endpoint()).startswith("OK: 127.0.0.1")


def test_scanner_held_by_the_running_agent_is_ok(store: Store) -> None:
    with store.daemon.ecr() as ecr:  # wait until the agent reads it
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            devices = ecr.request("status.get")["devices"]
            if any(d["device"] == store.scanner.path and d["state"] == "connected" for d in devices):
                break
            time.sleep(0.1)
    context = Context(store.daemon.config, service_user="root")
    found = {f.name: f for f in run_doctor(context=context, only=["scanners"]).findings}
    finding = found[f"scanner:{store.scanner.path}"]
    assert finding.status == "OK" and "held by the running agent" in finding.message


def test_scanner_held_by_another_program_fails(setup: Setup) -> None:
    holder = serial.Serial(setup.scanner.path, 9600, timeout=0, exclusive=True)
    try:
        found = setup.findings("scanners")
    finally:
        holder.close()
    finding = found[f"scanner:{setup.scanner.path}"]
    assert finding.status == "FAIL" and "no running agent answers" in finding.message
    assert finding.fix is not None and f"fuser -v {setup.scanner.path}" in finding.fix


def test_a_negative_cap_is_a_config_error_not_a_gateway_problem(setup: Setup) -> None:
    setup.edit_config('key_file = "keys/outbox.key"', 'key_file = "keys/outbox.key"\nmax_pending = -1')
    found = setup.findings("database")
    assert found["config"].status == "FAIL" and "outbox.max_pending: must be from 1 to" in found["config"].message
    assert "outbox" not in found  # no "restore the gateway" for a setting that cannot work
