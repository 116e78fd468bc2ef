"""One simulated printer shared by its transports and its control interfaces (thread-safe).

It wraps the pure `PrinterEngine` with a lock, the job sink (files) and the link faults that belong
to the transport rather than to the printer's sensors: `slow_bps` (read rate), `stall` (stop
reading) and `mute` (never answer status). Transports call `receive`/`end_of_stream` and send back
what they return; replies that arise outside a read (automatic status back after a state change)
go to the transport through `attach_replies`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware_sim.printer.engine import DEFAULT_RECEIVE_BUFFER, Output, PrinterEngine
from hardware_sim.printer.render import PAPER_WIDTHS
from hardware_sim.printer.sink import JobRecord, JobSink
from hardware_sim.printer.status import PAPER_STATES, PrinterState

_SENSOR_FIELDS = {
    "cover_open",
    "offline",
    "drawer_high",
    "recoverable_error",
    "autocutter_error",
    "unrecoverable_error",
    "auto_recoverable_error",
}
LINK_FIELDS = ("slow_bps", "stall", "mute")
STATE_FIELDS = ("paper", *sorted(_SENSOR_FIELDS), *LINK_FIELDS)


class StateError(ValueError):
    """A state change that names an unknown field or an invalid value."""


class SimulatedPrinter:
    def __init__(
        self,
        out_dir: Path,
        width_dots: int = PAPER_WIDTHS[80],
        encoding: str | None = None,
        receive_buffer: int = DEFAULT_RECEIVE_BUFFER,
    ) -> None:
        self.width_dots = width_dots
        self.sink = JobSink(out_dir)
        self._engine = PrinterEngine(width_dots, encoding, receive_buffer)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._send: Callable[[bytes], None] | None = None
        self.slow_bps: int | None = None
        self.stall = False

    # -- transports ----------------------------------------------------------------------------

    def attach_replies(self, send: Callable[[bytes], None] | None) -> None:
        """Where unsolicited replies go (the connected client), or None when nobody is connected."""
        with self._lock:
            self._send = send

    def receive(self, data: bytes) -> bytes:
        with self._lock:
            return self._finish(self._engine.receive(data))

    def end_of_stream(self) -> bytes:
        with self._lock:
            return self._finish(self._engine.end_of_stream())

    @property
    def receive_full(self) -> bool:
        with self._lock:
            return self._engine.receive_full

    # -- control -------------------------------------------------------------------------------

    def set_state(self, **changes: Any) -> dict[str, Any]:
        """Change sensors (paper, cover_open, offline, ...) and link faults (slow_bps, stall, mute)."""
        _validate(changes)
        with self._lock:
            sensors = {k: v for k, v in changes.items() if k not in LINK_FIELDS}
            if "slow_bps" in changes:
                self.slow_bps = changes["slow_bps"] or None
            if "stall" in changes:
                self.stall = bool(changes["stall"])
            if "mute" in changes:
                self._engine.mute = bool(changes["mute"])
            replies = self._finish(self._engine.set_state(**sensors))
            if replies and self._send is not None:
                self._send(replies)
            self._changed.notify_all()
            return self.state()

    def state(self) -> dict[str, Any]:
        with self._lock:
            sensors: PrinterState = self._engine.state
            data: dict[str, Any] = {"paper": sensors.paper}
            data.update({name: getattr(sensors, name) for name in sorted(_SENSOR_FIELDS)})
            data.update(slow_bps=self.slow_bps, stall=self.stall, mute=self._engine.mute)
            data.update(
                online=not sensors.is_offline,
                held_bytes=self._engine.held_bytes,
                bytes_received=self._engine.bytes_received,
                status_requests=self._engine.status_requests,
                drawer_pulses=self._engine.drawer_pulses,
                last_drawer_pulse=self._engine.last_drawer_pulse,
            )
            return data

    def jobs(self) -> list[JobRecord]:
        return self.sink.records()

    def wait_for_jobs(self, count: int, timeout: float = 10.0) -> list[JobRecord]:
        """Block until at least `count` jobs are printed (or the timeout passes); returns the jobs."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.sink.records()) >= count, timeout)
            return self.sink.records()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> bool:
        """Block until `predicate(state())` holds (or the timeout passes)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.state()), timeout)

    def _finish(self, out: Output) -> bytes:
        for job in out.jobs:
            self.sink.write(job)
        self._changed.notify_all()
        return out.replies


def _validate(changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        if name not in STATE_FIELDS:
            raise StateError(f"unknown printer state field {name!r} (known: {', '.join(STATE_FIELDS)})")
        if name == "paper":
            if value not in PAPER_STATES:
                raise StateError(f"paper must be one of {', '.join(PAPER_STATES)}, got {value!r}")
        elif name == "slow_bps":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise StateError(f"slow_bps must be a non-negative integer or null, got {value!r}")
        elif not isinstance(value, bool):
            raise StateError(f"{name} must be true or false, got {value!r}")
