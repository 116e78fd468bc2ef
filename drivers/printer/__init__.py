"""ESC/POS receipt printers: transports with bounded I/O, status, slips and a print queue.

Pure parts (tested directly): `uri` (addresses), `status` (DLE EOT decoding), `profile`,
`slip` (slip bytes through python-escpos's generator). Thin I/O shells: one module per transport
(`network`, `serial`, `usb`, `file`), `printer` (one job, blocking) and `jobs` (the asyncio queue).
"""

from drivers.printer.connect import make_transport
from drivers.printer.errors import (
    CoverOpen,
    NotReady,
    PaperOut,
    PrinterError,
    PrinterFault,
    PrinterOffline,
    PrinterUnavailable,
    StatusUnknown,
    WriteFailed,
    WriteTimeout,
)
from drivers.printer.jobs import JobConflict, JobState, PrintJob, PrintQueue, ReprintRefused
from drivers.printer.printer import Outcome, Printer, Timeouts
from drivers.printer.profile import PrinterProfile, drawer_pulse
from drivers.printer.slip import (
    ActivationSlip,
    Receipt,
    SelfTestSlip,
    SlipError,
    activation_slip,
    human_url,
    receipt,
    self_test_slip,
)
from drivers.printer.status import PrinterStatus, Problem
from drivers.printer.transport import Transport
from drivers.printer.uri import PrinterAddress, PrinterUriError, parse_printer_uri

__all__ = [
    "ActivationSlip", "CoverOpen", "JobConflict", "JobState", "NotReady", "Outcome", "PaperOut",
    "PrintJob", "PrintQueue", "Printer", "PrinterAddress", "PrinterError", "PrinterFault", "PrinterOffline",
    "PrinterProfile", "PrinterStatus", "PrinterUnavailable", "PrinterUriError", "Problem", "Receipt", "ReprintRefused",
    "SelfTestSlip", "SlipError", "StatusUnknown", "Timeouts", "Transport", "WriteFailed", "WriteTimeout",
    "activation_slip", "drawer_pulse", "human_url", "make_transport", "parse_printer_uri", "receipt",
    "self_test_slip",
]  # fmt: skip
