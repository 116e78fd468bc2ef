"""Each configured device: present, openable, answering (printer status, scanner open, one camera frame).

A serial scanner the running agent reads is opened exclusively, so the doctor finds it busy: then
the running agent is asked (status.get over the ECR socket, with the token) how the scanner is.
Connected there is OK; a holder that is not the agent is a failure (the agent cannot read it).
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serial  # pyserial

from agent.config.model import CameraSettings, PrinterSettings, ScannerSettings
from agent.daemon.preflight import SecretFileError, read_secret_file
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn
from agent.ecr.client import EcrClient, EcrError
from drivers.printer import Printer, PrinterError, PrinterProfile, PrinterStatus, Problem, Timeouts, make_transport

CAMERA_FRAME_SECONDS = 10.0
PLUG_FIX = "plug it in and check the path: posagent devices lists stable paths (/dev/serial/by-id/...)"
ACCESS_FIX = "see the permissions finding for this device"

# ---- printer ----------------------------------------------------------------------------------

_PRINTER_FIXES = {
    Problem.PAPER_END: "load a paper roll and close the cover",
    Problem.COVER_OPEN: "close the printer cover",
    Problem.ERROR: "clear the jam or let the head cool; switch the printer off and on",
    Problem.OFFLINE: "press the printer's feed/online button; check paper and cover",
    Problem.NOT_ESCPOS: "check [printer] uri: that address and port reach another kind of device (a web server, "
    "a router); network ESC/POS printers take raw print data on port 9100",
    Problem.UNKNOWN: "check it is an ESC/POS printer at this address; for models that never answer status "
    "queries set [printer] answers_status = false",
}


def judge_printer(status: PrinterStatus, *, answers_status: bool) -> Finding:
    problem = status.problem
    if problem is None:
        if status.paper_near_end:
            return warn("printer", "ready, paper near end", "have a new roll ready")
        return ok("printer", "ready (answered its status)")
    if problem is Problem.UNKNOWN and not answers_status:
        return warn("printer", "status not checked (answers_status = false): printing blind",
                    "print a test slip: posagent test-print")  # fmt: skip
    if problem is Problem.NOT_ESCPOS:
        return fail("printer", f"{status.summary()}: it answered the status query with bytes no ESC/POS "
                    "printer sends", _PRINTER_FIXES[problem])  # fmt: skip
    what = "did not answer the status query" if problem is Problem.UNKNOWN else f"reports {status.summary()}"
    return fail("printer", f"the printer {what}", _PRINTER_FIXES[problem])


def check_printer_settings(settings: PrinterSettings, ctx: Context) -> Finding:
    profile = PrinterProfile(answers_status=settings.answers_status)
    try:
        transport = make_transport(settings.uri, connect_timeout=min(ctx.network_timeout, 5.0))
    except ValueError as exc:
        return fail("printer", f"bad printer address {settings.uri}: {exc}", "fix [printer] uri")
    printer = Printer(transport, profile, Timeouts(status=settings.status_timeout, write=settings.write_timeout))
    try:
        status = printer.status()
    except PrinterError as exc:
        return fail("printer", f"cannot open {settings.uri}: {exc}",
                    "check power, cable or network, and the address; " + ACCESS_FIX)  # fmt: skip
    finally:
        printer.close()
    if not transport.can_read:
        return warn("printer", f"{settings.uri} opened; this link cannot read status (write-only)",
                    "print a test slip: posagent test-print")  # fmt: skip
    return judge_printer(status, answers_status=settings.answers_status)


def check_printer(ctx: Context) -> list[Finding]:
    settings = ctx.agent_config.printer
    if settings is None:
        return [ok("printer", "none configured (printing ops answer DEVICE_UNAVAILABLE)")]
    return [check_printer_settings(settings, ctx)]


# ---- scanners ---------------------------------------------------------------------------------


AgentView = Callable[[], list[dict[str, Any]] | None]  # the running agent's devices, None: no agent answers


def is_busy(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == errno.EBUSY or "exclusive" in str(exc).lower()


def judge_open_error(name: str, path: str, exc: BaseException) -> Finding:
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT or (code is None and not os.path.exists(path)):
        return fail(name, f"{path} not found (unplugged, or another path)", PLUG_FIX)
    if code in (errno.EACCES, errno.EPERM):
        return fail(name, f"no permission to open {path}", ACCESS_FIX)
    if is_busy(exc):
        return judge_busy(name, path, None)
    return fail(name, f"cannot open {path}: {type(exc).__name__}: {exc}", PLUG_FIX)


def judge_busy(name: str, path: str, agent_devices: list[dict[str, Any]] | None) -> Finding:
    """A scanner someone holds: the running agent reading it (fine), or another program (the agent cannot)."""
    if agent_devices is None:
        return fail(name, f"{path} is busy: a program holds it and no running agent answers for it",
                    f"find the holder: sudo fuser -v {path}; stop it (the agent must be the only reader)")  # fmt: skip
    seen = next((d for d in agent_devices if d.get("device") == path), None)
    if seen is None:
        return fail(name, f"{path} is busy, and the running agent does not read it (another program holds it)",
                    f"find the holder: sudo fuser -v {path}; stop it, then restart the agent")  # fmt: skip
    state, detail = str(seen.get("state", "?")), str(seen.get("detail") or "")
    if state == "connected":
        return ok(name, f"{path} is held by the running agent, which reads it (connected)")
    return warn(name, f"{path} is held by the running agent, which reports it {state}" + (f": {detail}" if detail
                else ""), "see the status page; replug the scanner or restart the agent")  # fmt: skip


def running_agent_devices(ctx: Context) -> list[dict[str, Any]] | None:
    """The running agent's device list (status.get), asked with the configured token; None if none answers."""
    ecr = ctx.agent_config.ecr
    try:
        token = read_secret_file(ecr.token_file, "ecr.token_file")
    except SecretFileError:
        return None
    addresses: list[tuple[str, int] | Path] = []
    if ecr.tcp_port:
        addresses.append((ecr.tcp_host, ecr.tcp_port))
    if ecr.unix_socket is not None:
        addresses.append(ecr.unix_socket)
    for address in addresses:
        try:
            with EcrClient.connect(address, token=token, client="posagent-doctor", timeout=ctx.network_timeout) as ecr_:
                devices = ecr_.request("status.get", timeout=ctx.network_timeout).get("devices")
        except (OSError, ValueError, EcrError):
            continue
        return [d for d in devices if isinstance(d, dict)] if isinstance(devices, list) else []
    return None


def check_scanner_settings(settings: ScannerSettings, agent: AgentView | None = None) -> Finding:
    name = f"scanner:{settings.path}"
    try:
        if settings.kind == "serial":
            port = serial.Serial(settings.path, settings.baudrate, timeout=0, exclusive=True)
            port.close()
        else:  # evdev reads the node; opening it read-only is what matters (no grab: the ECR keeps its keyboard)
            os.close(os.open(settings.path, os.O_RDONLY | os.O_NONBLOCK))
    except (OSError, ValueError) as exc:  # pyserial's SerialException is an OSError
        if is_busy(exc) and agent is not None:
            return judge_busy(name, settings.path, agent())
        return judge_open_error(name, settings.path, exc)
    return ok(name, f"{settings.kind} scanner {settings.path} opens")


def check_scanners(ctx: Context) -> list[Finding]:
    scanners = ctx.agent_config.scanners
    if not scanners:
        return [ok("scanners", "none configured")]
    return [check_scanner_settings(s, lambda: running_agent_devices(ctx)) for s in scanners]


# ---- camera -----------------------------------------------------------------------------------


def grab_frame(source: str | int) -> tuple[bool, str]:
    """Open the camera and read one frame: (got a frame, what happened). Blocking."""
    import cv2  # noqa: PLC0415 - OpenCV is heavy: only when a camera is configured

    capture = cv2.VideoCapture(source)
    try:
        if not capture.isOpened():
            return False, "cannot be opened"
        grabbed, frame = capture.read()
        if not grabbed or frame is None:
            return False, "opened, but gave no frame"
        height, width = frame.shape[:2]
        return True, f"gave a {width}x{height} frame"
    finally:
        capture.release()


def check_camera_settings(settings: CameraSettings, timeout: float = CAMERA_FRAME_SECONDS) -> Finding:
    text = settings.source
    source: str | int = int(text) if text.isascii() and text.isdigit() else text
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["grab"] = grab_frame(source)
        except Exception as exc:  # OpenCV raises cv2.error and assorted others
            result["error"] = f"{type(exc).__name__}: {exc}"

    # OpenCV can block for long on a dead stream URL: wait a bounded time, leave the thread behind.
    worker = threading.Thread(target=run, name="doctor-camera", daemon=True)
    worker.start()
    worker.join(timeout)
    if "grab" in result:
        grabbed, what = result["grab"]
        if grabbed:
            return ok("camera", f"{settings.source} {what}")
        return fail("camera", f"{settings.source} {what}",
                    "check the camera is plugged in and not used by another program; " + ACCESS_FIX)  # fmt: skip
    if "error" in result:
        return fail("camera", f"{settings.source}: {result['error']}", PLUG_FIX)
    return fail("camera", f"{settings.source} gave no frame in {timeout:.0f} s", "check the camera or stream URL")


def check_camera(ctx: Context) -> list[Finding]:
    settings = ctx.agent_config.camera
    if settings is None:
        return [ok("camera", "none configured")]
    return [check_camera_settings(settings)]
