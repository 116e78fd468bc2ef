"""The systemd unit: loaded, active, not restarting in a loop."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn

NAME = "systemd"
PROPERTIES = ("LoadState", "ActiveState", "SubState", "NRestarts")

Runner = Callable[[list[str]], str]


def judge_unit(unit: str, props: Mapping[str, str]) -> Finding:
    load, active, sub = props.get("LoadState", ""), props.get("ActiveState", ""), props.get("SubState", "")
    restarts = props.get("NRestarts", "0")
    logs = f"journalctl -u {unit} -n 100"
    if load != "loaded":
        return fail(NAME, f"unit {unit} is not installed (LoadState={load or '?'})",
                    "install it: sudo deploy/install.sh")  # fmt: skip
    if active == "active":
        if restarts.isdigit() and int(restarts) > 0:
            return warn(NAME, f"{unit} is active ({sub}) but restarted {restarts} time(s)", f"see why: {logs}")
        return ok(NAME, f"{unit} is active ({sub})")
    if active == "failed":
        return fail(NAME, f"{unit} has failed", f"see why: {logs}; then sudo systemctl restart {unit}")
    if active in ("activating", "reloading"):
        return warn(NAME, f"{unit} is {active} ({sub})", f"wait a few seconds; if it repeats: {logs}")
    return warn(NAME, f"{unit} is {active or 'in an unknown state'}", f"sudo systemctl enable --now {unit}")


def parse_show(text: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key.strip()] = value.strip()
    return props


def _systemctl(args: list[str]) -> str:
    done = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=10, check=False)
    return done.stdout


def under_systemd() -> bool:
    return shutil.which("systemctl") is not None and Path("/run/systemd/system").exists()


def check_systemd(
    ctx: Context, *, run: Runner = _systemctl, booted: Callable[[], bool] = under_systemd
) -> list[Finding]:
    if not ctx.judges_service:
        return [ok(NAME, f"development config: the {ctx.service_unit} unit runs the one in /etc/posagent, not this "
                         "one (not checked)")]  # fmt: skip
    if not booted():
        return [warn(NAME, "not under systemd (no systemctl or /run/systemd/system): the agent is not supervised",
                     "on the store PC, install the service: sudo deploy/install.sh")]  # fmt: skip
    output = run(["show", ctx.service_unit, "--property=" + ",".join(PROPERTIES)])
    return [judge_unit(ctx.service_unit, parse_show(output))]
