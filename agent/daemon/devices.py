"""The store's devices as the daemon sees them: scanners and camera in, one receipt printer out.

Drivers run their blocking I/O in threads and report through an `AsyncEventBridge`; this module
turns their reports into classified, masked scans and device states for the ECR, and gives the ECR
ops one printer queue. Payment codes stay in `ScanRegistry` (memory only, a short while) so events
and logs carry only a `scan_id` and a masked form.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.codes import Classification, CodeClass, classify, display
from agent.config import AgentConfig
from agent.config.model import PrinterSettings
from drivers.addresses import display_address, redact_urls
from drivers.printer import (
    Printer,
    PrinterProfile,
    PrinterStatus,
    PrintJob,
    PrintQueue,
    Timeouts,
    drawer_pulse,
    make_transport,
)
from drivers.printer.slip import ActivationSlip, Receipt, SelfTestSlip
from drivers.scanners import (
    AsyncEventBridge,
    DeviceState,
    DeviceStatus,
    DeviceWarning,
    DeviceWorker,
    FramingConfig,
    HidScanner,
    ScanEvent,
    SerialScanner,
    Terminator,
)

log = logging.getLogger(__name__)

Slip = ActivationSlip | SelfTestSlip | Receipt

SCAN_TTL_SECONDS = 120.0  # a payment code is only good for a minute or two anyway
MAX_SCANS = 200
PRINTER_POLL_SECONDS = 1.0  # the status page shows paper-out within a second or two
KEEP_SLIPS = 50
PRINTER_ID = "printer"


@dataclass(frozen=True)
class Scan:
    scan_id: str
    code: str
    classification: Classification
    device: str
    source: str
    at: float

    def __repr__(self) -> str:
        return f"Scan({self.scan_id}, {self.classification.kind.value}, device={self.device!r})"

    def event_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "scan_id": self.scan_id, "class": self.classification.kind.value,
            "supported": self.classification.supported, "masked": display(self.code, self.classification),
            "device": self.device, "source": self.source, "at": self.at,
        }  # fmt: skip
        if self.classification.kind is CodeClass.MEMBER_CARD:
            body["code"] = self.code  # a card number is not a secret, and the ECR needs it
        return body


class ScanRegistry:
    """Recent scans by id, in memory only, expiring: the ECR refers to a payment code by scan_id."""

    def __init__(self, ttl: float = SCAN_TTL_SECONDS, keep: int = MAX_SCANS, clock: Callable[[], float] = time.time):
        self.ttl = ttl
        self.keep = keep
        self.clock = clock
        self._scans: OrderedDict[str, Scan] = OrderedDict()

    def add(self, code: str, classification: Classification, device: str, source: str) -> Scan:
        self._expire()
        scan = Scan(f"scan-{secrets.token_hex(6)}", code, classification, device, source, self.clock())
        self._scans[scan.scan_id] = scan
        while len(self._scans) > self.keep:
            self._scans.popitem(last=False)
        return scan

    def get(self, scan_id: str) -> Scan | None:
        self._expire()
        return self._scans.get(scan_id)

    def take_payment_code(self, scan_id: str) -> str | None:
        """The code of a payment-code scan, used once: a scan pays for one sale at most."""
        scan = self.get(scan_id)
        if scan is None or scan.classification.kind is not CodeClass.ALIPAY_PAYMENT:
            return None
        del self._scans[scan_id]
        return scan.code

    def recent(self, limit: int = 20) -> list[Scan]:
        self._expire()
        return list(self._scans.values())[-limit:]

    def _expire(self) -> None:
        cutoff = self.clock() - self.ttl
        while self._scans and next(iter(self._scans.values())).at < cutoff:
            self._scans.popitem(last=False)


class PrinterUnavailableError(Exception):
    pass


class Devices:
    def __init__(
        self,
        config: AgentConfig,
        *,
        on_scan: Callable[[Scan], None],
        on_device: Callable[[dict[str, Any]], None],
        on_print: Callable[[PrintJob], None],
    ) -> None:
        self.config = config
        self.scans = ScanRegistry()
        self._on_scan = on_scan
        self._on_device = on_device
        self._on_print = on_print
        self._workers: list[DeviceWorker] = []
        self._states: dict[str, dict[str, Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.queue: PrintQueue | None = None
        self.profile: PrinterProfile | None = None
        self._slips: OrderedDict[str, Slip] = OrderedDict()  # what each recent job printed, for previews

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        bridge = AsyncEventBridge(asyncio.get_running_loop())
        for scanner in self.config.scanners:
            framing = FramingConfig(terminator=Terminator[scanner.terminator], prefix=scanner.prefix.encode(),
                                    suffix=scanner.suffix.encode(),
                                    inter_char_gap=scanner.inter_char_gap)  # None: the transport's default  # fmt: skip
            worker: DeviceWorker
            if scanner.kind == "hid":
                worker = HidScanner(scanner.path, bridge.sink, framing=framing)
            else:
                worker = SerialScanner(scanner.path, bridge.sink, baudrate=scanner.baudrate, framing=framing)
            self._workers.append(worker)
            self._set_state(scanner.path, "scanner", "connecting", "")
        if self.config.camera is not None:
            # OpenCV costs ~40 MiB of RSS: loaded only on tills that have a camera.
            from drivers.camera import CameraScanner, make_decoder  # noqa: PLC0415

            camera = self.config.camera
            decoder = make_decoder(camera.decoder, camera.symbologies, retry=camera.retry)
            reader = CameraScanner(camera.source, bridge.sink, decoder=decoder, max_fps=camera.max_fps)
            self._workers.append(reader)
            self._set_state(reader.device, "camera", "connecting", "")  # its display form: no password
        for worker in self._workers:
            worker.start()
        self._tasks.append(asyncio.create_task(self._pump(bridge), name="scanner events"))
        if self.config.printer is not None:
            self.queue, self.profile = self._printer(self.config.printer)
            self.queue.start()
            self._set_state(PRINTER_ID, "printer", "unknown", display_address(self.config.printer.uri))
            self._tasks.append(asyncio.create_task(self._watch_printer(), name="printer status"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.queue is not None:
            await self.queue.close()  # lets the job in progress finish and records how it ended
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in self._workers), return_exceptions=True)

    def _printer(self, settings: PrinterSettings) -> tuple[PrintQueue, PrinterProfile]:
        profile = PrinterProfile(paper_mm=settings.paper_mm, native_qr=settings.native_qr,  # type: ignore[arg-type]
                                 code_page=settings.code_page, answers_status=settings.answers_status,
                                 drawer_pin=settings.drawer_pin)  # type: ignore[arg-type]  # fmt: skip
        printer = Printer(make_transport(settings.uri), profile,
                          Timeouts(status=settings.status_timeout, write=settings.write_timeout))  # fmt: skip
        return PrintQueue(printer, on_change=self._on_print), profile

    # --- state ----------------------------------------------------------------------------------

    def statuses(self) -> list[dict[str, Any]]:
        return list(self._states.values())

    def printer_state(self) -> dict[str, Any] | None:
        return self._states.get(PRINTER_ID)

    def _set_state(self, device: str, kind: str, state: str, detail: str) -> None:
        current = {"device": device, "kind": kind, "state": state, "detail": detail}
        if self._states.get(device) != current:
            self._states[device] = current
            self._on_device(current)

    async def _pump(self, bridge: AsyncEventBridge) -> None:
        async for event in bridge.events():
            try:
                self._handle(event)
            except Exception:
                log.exception("handling a device event failed")

    def _handle(self, event: ScanEvent | DeviceStatus | DeviceWarning) -> None:
        kind = "camera" if event.source.value == "camera" else "scanner"
        if isinstance(event, DeviceStatus):
            self._set_state(event.device, kind, event.state.value, event.detail)
        elif isinstance(event, DeviceWarning):
            log.warning("%s %s: %s", kind, event.device, event.reason)
        else:
            codes = self.config.codes
            found = classify(event.code, card_prefixes=codes.card_prefixes, card_length=codes.card_length)
            scan = self.scans.add(event.code, found, event.device, event.source.value)
            log.info("scan %s from %s: %s", scan.scan_id, event.device, found.kind.value)
            self._on_scan(scan)

    async def _watch_printer(self) -> None:
        assert self.queue is not None
        while True:
            try:
                status = await self.queue.status()
                self._set_state(PRINTER_ID, "printer", printer_state(status), status.summary())
            except Exception as exc:  # unreachable printer, timeouts: a state, not a crash
                self._set_state(PRINTER_ID, "printer", "unavailable", redact_urls(f"{type(exc).__name__}: {exc}"))
            await asyncio.sleep(PRINTER_POLL_SECONDS)

    # --- printing -------------------------------------------------------------------------------

    def remember_slip(self, job_id: str, slip: Slip) -> None:
        self._slips[job_id] = slip
        self._slips.move_to_end(job_id)
        while len(self._slips) > KEEP_SLIPS:
            self._slips.popitem(last=False)

    def slip(self, job_id: str) -> Slip | None:
        return self._slips.get(job_id)

    def latest_slip_id(self) -> str | None:
        return next(reversed(self._slips), None)

    def require_printer(self) -> tuple[PrintQueue, PrinterProfile]:
        if self.queue is None or self.profile is None:
            raise PrinterUnavailableError("no printer is configured")
        return self.queue, self.profile

    async def open_drawer(self) -> PrintJob:
        queue, profile = self.require_printer()
        job = queue.submit(drawer_pulse(profile), job_id=f"drawer-{secrets.token_hex(4)}", kind="drawer")
        with contextlib.suppress(asyncio.TimeoutError):
            return await asyncio.wait_for(queue.wait(job.id), timeout=15)
        return job


# States in which a device does its job: "paper_near_end" still prints; printer problems,
# "unknown" and "unavailable" do not, nor a scanner that is not connected.
WORKING_STATES: dict[str, frozenset[str]] = {
    "scanner": frozenset({DeviceState.CONNECTED.value}),
    "camera": frozenset({DeviceState.CONNECTED.value}),
    "printer": frozenset({"ready", "paper_near_end"}),
}


def is_working(kind: str, state: str) -> bool:
    return state in WORKING_STATES.get(kind, frozenset())


def printer_state(status: PrinterStatus) -> str:
    problem = status.problem
    if problem is None:
        return "paper_near_end" if status.paper_near_end else "ready"
    return problem.value
