"""One printer, blocking: status check, bounded write, status after; never a blind re-send.

`Printer.run(data)` returns an Outcome instead of raising, so the job layer records exactly
what happened: whether anything reached the printer, and what the printer said before and after.

Policy on unknown status (no reply to DLE EOT on a link that can read): the job is refused with
StatusUnknown before any byte is sent. A printer that answered nothing could be off, jammed or the
wrong device; printing blind is a per-printer opt-in (`PrinterProfile.answers_status=False`).
One-way links (a write-only file device) print without a check and record the status as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.printer.errors import (
    CoverOpen,
    NotAnEscposPrinter,
    NotReady,
    PaperOut,
    PrinterError,
    PrinterFault,
    PrinterOffline,
    StatusUnknown,
    WriteFailed,
)
from drivers.printer.profile import PrinterProfile
from drivers.printer.status import (
    FOREIGN,
    QUERIES,
    UNKNOWN,
    ForeignReply,
    PrinterStatus,
    Problem,
    decode_status,
    reply_byte,
)
from drivers.printer.transport import Transport

LINK_BUFFER = 64 * 1024  # at most this much of a job is still on its way when write() returns


@dataclass(frozen=True, slots=True)
class Timeouts:
    status: float = 1.0  # per DLE EOT query
    write: float = 5.0  # plus the job's size at the link's pessimistic rate


@dataclass(frozen=True, slots=True)
class Outcome:
    printed: bool
    bytes_sent: int
    any_sent: bool  # True whenever the printer may have received part of the job
    error: PrinterError | None = None
    status_before: PrinterStatus = UNKNOWN
    status_after: PrinterStatus = UNKNOWN


def not_ready_error(status: PrinterStatus, when: str = "") -> NotReady | None:
    """The precise error for a status that forbids printing, or None when it is ready."""
    problem = status.problem
    if problem is None:
        return None
    errors: dict[Problem, type[NotReady]] = {
        Problem.COVER_OPEN: CoverOpen, Problem.PAPER_END: PaperOut, Problem.ERROR: PrinterFault,
        Problem.OFFLINE: PrinterOffline, Problem.UNKNOWN: StatusUnknown, Problem.NOT_ESCPOS: NotAnEscposPrinter,
    }  # fmt: skip
    if problem is Problem.NOT_ESCPOS:
        return NotAnEscposPrinter(f"{status.summary()}{when} (it answered the status query with other bytes)", status)
    text = "did not answer the status query" if problem is Problem.UNKNOWN else f"reports {status.summary()}"
    return errors[problem](f"the printer {text}{when}", status)


class Printer:
    """A transport plus a profile. Not thread-safe: one caller at a time (the print queue)."""

    def __init__(self, transport: Transport, profile: PrinterProfile | None = None,
                 timeouts: Timeouts | None = None) -> None:  # fmt: skip
        self.transport = transport
        self.profile = profile or PrinterProfile()
        self.timeouts = timeouts or Timeouts()

    @property
    def name(self) -> str:
        return self.transport.name

    @property
    def checks_status(self) -> bool:
        return self.profile.answers_status and self.transport.can_read

    def status(self) -> PrinterStatus:
        """Ask DLE EOT 1-4 (opening the link if needed). Stops at the first query left unanswered."""
        self.transport.open()
        try:
            return self._query()
        finally:
            if self.transport.exclusive:
                self.transport.close()

    def _query(self, backlog: int = 0) -> PrinterStatus:
        """DLE EOT 1-4; `backlog` = bytes that may still be in the link ahead of the first query."""
        if not self.transport.can_read:
            return UNKNOWN
        replies: dict[int, int | None] = {}
        for n in QUERIES:
            timeout = self.timeouts.status + backlog / self.transport.bytes_per_second
            backlog = 0
            data = self.transport.read_status(n, timeout)
            try:
                replies[n] = None if data is None else reply_byte(data)
            except ForeignReply:
                return FOREIGN
            if replies[n] is None:
                break
        return decode_status(replies)

    def run(self, data: bytes) -> Outcome:
        """Print one job. Safe to call again only if the outcome says nothing was sent."""
        try:
            self.transport.open()
        except PrinterError as exc:
            return Outcome(False, 0, False, exc)
        before = UNKNOWN
        clean = False  # a job that failed part-way leaves the link mid-command: reopen it next time
        try:
            if self.checks_status:
                before = self._query()
                refusal = not_ready_error(before)
                if refusal is not None:
                    return Outcome(False, 0, False, refusal, before)
            timeout = self.timeouts.write + len(data) / self.transport.bytes_per_second
            try:
                sent = self.transport.write(data, timeout)
            except WriteFailed as exc:
                return Outcome(False, exc.bytes_written, exc.any_sent, exc, before)
            clean = True
            if not self.checks_status:  # printing blind was chosen for this printer (or link)
                return Outcome(True, sent, sent > 0, None, before)
            # The printer takes data into its buffer; a fault now (paper ran out mid-slip) leaves the
            # rest held until it is fixed: say so rather than claim "printed". The query queues
            # behind what is still in the link (socket buffers, a slow serial line).
            after = self._query(min(len(data), LINK_BUFFER))
            problem = not_ready_error(after, " after the job was sent")
            return Outcome(problem is None, sent, sent > 0, problem, before, after)
        finally:
            if self.transport.exclusive or not clean:
                self.transport.close()

    def close(self) -> None:
        self.transport.close()
