"""The README's first command, run as the README says (`./run demo`, a subprocess): stopped with SIGTERM while
it keeps the store running, it stops every process it started (the agent, the gateway, the devices), as the
chain demo does: both share demo/lifecycle.py."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_chain_demo import ROOT

pytestmark = pytest.mark.timeout(300)


def children_of(pid: int) -> set[int]:
    """The processes whose parent is `pid` (the demo starts every simulator and the agent itself)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()  # after "(command name)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_while_the_store_keeps_running_stops_everything_it_started(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    demo = subprocess.Popen([str(ROOT / "run"), "demo", "--workdir", str(work), "--keep-running"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if "The store keeps running" in line:
                break
        else:
            pytest.fail("the demo ended before keeping the store running:\n" + "".join(lines))
        started = children_of(demo.pid)
        assert len(started) >= 4, "".join(lines)  # gateway, printer, scanner, agent (and the camera)
        demo.send_signal(signal.SIGTERM)
        lines.extend(demo.stdout)
        assert demo.wait(60) == 0, "".join(lines)
        assert "stopped the" in lines[-1]
        deadline = time.monotonic() + 10  # a process just stopped may linger a moment before it is reaped
        while (left := [pid for pid in started if alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == []
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


def test_the_demo_in_certificate_mode_plays_the_journey_through_a_rotation(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    done = subprocess.run([str(ROOT / "run"), "demo", "--cert-mode", "--workdir", str(work)], capture_output=True,
                          text=True, timeout=240, check=False)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    config = (work / "agent.toml").read_text()
    assert "app_cert_file" in config and "alipay_public_key_file" not in config
    assert "CSR uploaded (certificate mode)" in output and "points at Alipay" in output
    kept = sorted(p.name for p in (work / "state" / "alipay_certs").iterdir())
    assert len(kept) == 1 and f"1 certificate download(s); kept for the next start: {kept[0]}" in output
