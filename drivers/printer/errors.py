"""Precise printer errors: each says what happened and whether any bytes went out.

`code` values are stable strings the agent maps to its ECR error codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drivers.printer.status import PrinterStatus


class PrinterError(Exception):
    code = "PRINTER_ERROR"


class PrinterUnavailable(PrinterError):
    """The printer could not be opened or connected (unplugged, no permission, busy, refused)."""

    code = "DEVICE_UNAVAILABLE"


class WriteFailed(PrinterError):
    """A write did not complete. `bytes_written` went out for sure; `any_sent` is True when any may have.

    A transport that cannot count a partial write (a timed-out pyserial or pyusb chunk) reports
    `any_sent=True` with the bytes it can confirm: a caller must then assume the printer got some.
    """

    code = "PRINTER_WRITE_FAILED"

    def __init__(self, message: str, *, bytes_written: int, total: int, any_sent: bool | None = None) -> None:
        super().__init__(message)
        self.bytes_written = bytes_written
        self.total = total
        self.any_sent = bytes_written > 0 if any_sent is None else any_sent or bytes_written > 0


class WriteTimeout(WriteFailed):
    """The printer stopped taking data (stalled link, full buffer) before the deadline."""

    code = "PRINTER_WRITE_TIMEOUT"


class NotReady(PrinterError):
    """The status says the printer cannot print now; `status` has the details."""

    code = "PRINTER_NOT_READY"

    def __init__(self, message: str, status: PrinterStatus) -> None:
        super().__init__(message)
        self.status = status


class PaperOut(NotReady):
    code = "PRINTER_PAPER_OUT"


class CoverOpen(NotReady):
    code = "PRINTER_COVER_OPEN"


class PrinterOffline(NotReady):
    code = "PRINTER_OFFLINE"


class PrinterFault(NotReady):
    """Cutter jam, head too hot, or another error the printer reports."""

    code = "PRINTER_ERROR"


class NotAnEscposPrinter(NotReady):
    """Something answered the status query, but not as an ESC/POS printer does (wrong address or port)."""

    code = "PRINTER_NOT_ESCPOS"


class StatusUnknown(NotReady):
    """The printer did not answer a status query in time: unknown is never taken as fine."""

    code = "PRINTER_STATUS_UNKNOWN"
