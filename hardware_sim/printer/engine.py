"""The printer's behaviour, without any I/O: bytes in, status replies and finished jobs out.

    engine = PrinterEngine()
    out = engine.receive(chunk)        # out.replies: bytes to send back; out.jobs: finished jobs
    out = engine.set_state(paper="end")
    out = engine.end_of_stream()       # connection closed / file ended

Like a real printer it separates reception from printing. Received bytes are parsed at once, so
real-time status (DLE EOT) is answered on arrival whatever the printer is doing. Everything else
waits in the receive buffer until the printer can print: with the paper out, the cover open, an
error or the printer switched offline, print data (and GS r, which is queued behind it) is held,
and printed when the condition clears. `receive_full` tells the I/O shell to stop reading, as a
printer with a full buffer goes busy.

Not thread-safe: the shell serialises calls.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from hardware_sim.printer import commands as c
from hardware_sim.printer.job import JobAssembler, RenderedJob
from hardware_sim.printer.parser import Parser
from hardware_sim.printer.render import PAPER_WIDTHS
from hardware_sim.printer.status import (
    PrinterState,
    asb_changes,
    auto_status_block,
    realtime_status,
    transmit_status,
)

DEFAULT_RECEIVE_BUFFER = 256 * 1024


class _EndOfStream:
    """Queue marker: the stream ended here, so the job in progress ends too."""


@dataclass
class Output:
    replies: bytes = b""
    jobs: list[RenderedJob] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        self.replies += other.replies
        self.jobs.extend(other.jobs)


class PrinterEngine:
    def __init__(
        self,
        width_dots: int = PAPER_WIDTHS[80],
        encoding: str | None = None,
        receive_buffer: int = DEFAULT_RECEIVE_BUFFER,
    ) -> None:
        self.state = PrinterState()
        self.mute = False  # never answer any status request (a printer that does not talk back)
        self.receive_buffer = receive_buffer
        self._parser = Parser()
        self._jobs = JobAssembler(width_dots, encoding)
        self._queue: deque[c.Command | _EndOfStream] = deque()
        self._held = 0
        self._asb_mask = 0
        self.bytes_received = 0
        self.status_requests = 0

    @property
    def held_bytes(self) -> int:
        """Print data received but not printed yet (waiting for paper, cover, online...)."""
        return self._held

    @property
    def drawer_pulses(self) -> int:
        """Cash-drawer pulses (ESC p) executed since start, including those after the last cut."""
        return self._jobs.drawer_pulses

    @property
    def last_drawer_pulse(self) -> dict[str, object] | None:
        return self._jobs.last_drawer_pulse

    @property
    def receive_full(self) -> bool:
        return self._held >= self.receive_buffer

    def receive(self, data: bytes) -> Output:
        self.bytes_received += len(data)
        out = Output()
        for command in self._parser.feed(data):
            if isinstance(command, c.StatusRequest) and command.command == "DLE EOT":
                self.status_requests += 1
                out.replies += self._reply(realtime_status(self.state, command.n))
            else:
                self._enqueue(command)
        out.extend(self.pump())
        return out

    def end_of_stream(self) -> Output:
        for command in self._parser.close():
            self._enqueue(command)
        self._queue.append(_EndOfStream())
        self._parser = Parser()
        return self.pump()

    def set_state(self, **changes: object) -> Output:
        """Change what the sensors report (fields of PrinterState); prints held jobs if now possible."""
        before = self.state
        self.state = self.state.with_changes(**changes)
        out = Output()
        if self._asb_mask & asb_changes(before, self.state):
            out.replies += self._reply(auto_status_block(self.state))
        out.extend(self.pump())
        return out

    def pump(self) -> Output:
        """Print whatever the printer can print now."""
        out = Output()
        while self._queue and self.state.can_print:
            item = self._queue.popleft()
            if isinstance(item, _EndOfStream):
                job = self._jobs.end_of_stream()
                if job is not None:
                    out.jobs.append(job)
                continue
            self._held -= len(item.raw)
            if isinstance(item, c.StatusRequest):
                self.status_requests += 1
                out.replies += self._reply(transmit_status(self.state, item.n))
            elif isinstance(item, c.AutoStatusBack):
                self._asb_mask = item.mask
                if item.mask:
                    out.replies += self._reply(auto_status_block(self.state))
            finished = self._jobs.add_one(item)
            if finished is not None:
                out.jobs.append(finished)
        return out

    def _enqueue(self, command: c.Command) -> None:
        self._queue.append(command)
        self._held += len(command.raw)

    def _reply(self, data: bytes) -> bytes:
        return b"" if self.mute else data
