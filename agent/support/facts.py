"""Cheap facts about this PC for the bundle: versions, environment, devices. Each never raises."""

from __future__ import annotations

import grp
import importlib.metadata
import os
import platform
import pwd
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.doctor.context import SERVICE_UNIT, UDEV_RULES
from drivers.discovery import discover
from drivers.printer import parse_printer_uri
from drivers.printer.uri import FileAddress, SerialAddress

from .site import Site

AGENT_DISTRIBUTION = "alipay-pos-agent"
LIBRARIES = ("httpx", "cryptography", "python-escpos", "pyserial", "pyusb", "opencv-python-headless", "zxing-cpp",
             "pyzbar", "prometheus-client")  # fmt: skip
NOT_INSTALLED = "not installed"
UNIT = f"{SERVICE_UNIT}.service"  # as deploy/install.sh installs it
UDEV_RULE_PATH = Path("/etc/udev/rules.d") / Path(UDEV_RULES).name
COMMAND_TIMEOUT = 5.0

# (argv, timeout) -> (exit code, stdout, stderr); injectable so tests need no systemd.
Runner = Callable[[list[str], float], tuple[int, str, str]]


def run_command(argv: list[str], timeout: float) -> tuple[int, str, str]:
    done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
    return done.returncode, done.stdout, done.stderr


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def os_pretty_name(os_release: Path = Path("/etc/os-release")) -> str | None:
    try:
        lines = os_release.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "PRETTY_NAME":
            return value.strip().strip("\"'")
    return None


def versions() -> dict[str, Any]:
    agent = _version(AGENT_DISTRIBUTION)
    return {
        "posagent": "dev" if agent == NOT_INSTALLED else agent,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "os": os_pretty_name(),
        "libraries": {name: _version(name) for name in LIBRARIES} | {"sqlite3 (library)": sqlite3.sqlite_version},
    }


def configured_devices(site: Site) -> list[dict[str, Any]]:
    """The devices the config names, as they are configured (strings masked later with everything else)."""
    config = site.config
    if config is None:
        return []
    devices: list[dict[str, Any]] = []
    if config.printer is not None:
        devices.append({"kind": "printer", "uri": config.printer.uri, "paper_mm": config.printer.paper_mm})
    devices += [{"kind": f"scanner ({s.kind})", "path": s.path} for s in config.scanners]
    if config.camera is not None:
        devices.append({"kind": "camera", "source": config.camera.source, "decoder": config.camera.decoder})
    return devices


def device_nodes(site: Site) -> list[str]:
    config = site.config
    if config is None:
        return []
    nodes = [s.path for s in config.scanners]
    if config.printer is not None:
        try:
            address = parse_printer_uri(config.printer.uri)
        except ValueError:
            address = None
        if isinstance(address, SerialAddress | FileAddress):
            nodes.append(address.path)
    if config.camera is not None and config.camera.source.startswith("/dev/"):
        nodes.append(config.camera.source)
    return nodes


def devices(site: Site) -> dict[str, Any]:
    found = discover()
    data: dict[str, Any] = {"configured": configured_devices(site), "discovered": found.to_json()}
    if site.config is None:
        data["note"] = "the config is not valid: the configured devices are unknown"
    return data


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def node_facts(path: str) -> dict[str, Any]:
    try:
        info = os.stat(path)
    except OSError as exc:
        return {"path": path, "error": exc.strerror or type(exc).__name__}
    return {"path": path, "resolved": os.path.realpath(path), "owner": _owner(info.st_uid),
            "group": _group(info.st_gid), "mode": f"{stat.S_IMODE(info.st_mode):04o}"}  # fmt: skip


def uptime_seconds(proc_uptime: Path = Path("/proc/uptime")) -> float | None:
    try:
        return float(proc_uptime.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def environment(site: Site, run: Runner = run_command) -> dict[str, Any]:
    facts: dict[str, Any] = {"hostname": socket.gethostname(), "user": _owner(os.getuid()),
                             "uptime_seconds": uptime_seconds(), "state_dir": str(site.state_dir)}  # fmt: skip
    try:
        usage = shutil.disk_usage(site.state_dir)
        facts["disk"] = {"free_bytes": usage.free, "total_bytes": usage.total}
    except OSError as exc:
        facts["disk"] = {"error": exc.strerror or type(exc).__name__}
    if shutil.which("systemctl"):
        try:
            code, out, err = run(["systemctl", "is-active", UNIT], COMMAND_TIMEOUT)
            facts["service"] = {"unit": UNIT, "is_active": (out or err).strip(), "exit_code": code}
        except (OSError, subprocess.TimeoutExpired) as exc:
            facts["service"] = {"unit": UNIT, "error": f"{type(exc).__name__}: {exc}"}
    else:
        facts["service"] = {"unit": UNIT, "error": "systemctl not found"}
    facts["udev_rule"] = {"path": str(UDEV_RULE_PATH), "present": UDEV_RULE_PATH.exists()}
    facts["device_nodes"] = [node_facts(node) for node in device_nodes(site)]
    return facts
