"""Each configured device: present, openable, answering (printer status, scanner open, one camera frame).

A device the running agent holds open (serial scanners are opened exclusively) reads as busy:
that is a warning, not a failure, when the agent is running.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

import serial  # pyserial

from agent.config.model import CameraSettings, PrinterSettings, ScannerSettings
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn
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


def judge_open_error(name: str, path: str, exc: BaseException) -> Finding:
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT or (code is None and not os.path.exists(path)):
        return fail(name, f"{path} not found (unplugged, or another path)", PLUG_FIX)
    if code in (errno.EACCES, errno.EPERM):
        return fail(name, f"no permission to open {path}", ACCESS_FIX)
    if code == errno.EBUSY or "exclusive" in str(exc).lower():
        return warn(name, f"{path} is busy: another program holds it (the running agent does)",
                    "if the agent is stopped, find the holder: fuser -v " + path)  # fmt: skip
    return fail(name, f"cannot open {path}: {type(exc).__name__}: {exc}", PLUG_FIX)


def check_scanner_settings(settings: ScannerSettings) -> Finding:
    name = f"scanner:{settings.path}"
    try:
        if settings.kind == "serial":
            port = serial.Serial(settings.path, settings.baudrate, timeout=0, exclusive=True)
            port.close()
        else:  # evdev reads the node; opening it read-only is what matters (no grab: the ECR keeps its keyboard)
            os.close(os.open(settings.path, os.O_RDONLY | os.O_NONBLOCK))
    except (OSError, ValueError) as exc:  # pyserial's SerialException is an OSError
        return judge_open_error(name, settings.path, exc)
    return ok(name, f"{settings.kind} scanner {settings.path} opens")


def check_scanners(ctx: Context) -> list[Finding]:
    scanners = ctx.agent_config.scanners
    if not scanners:
        return [ok("scanners", "none configured")]
    return [check_scanner_settings(s) for s in scanners]


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
