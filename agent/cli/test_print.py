"""`posagent test-print`: ask a printer for its status, then print a self-test slip with a QR to scan back.

    posagent test-print --printer tcp://192.168.1.50:9100
    posagent test-print --printer usb://04b8:0e15 --width 58 --image-qr
    posagent test-print --printer serial:///dev/ttyUSB0?baud=19200 --json
    posagent test-print --printer file:///dev/usb/lp0 --status-only

Scan the printed QR with `posagent scan-test` (or any phone): it must read back the text shown.
Use --image-qr when the QR comes out as a line of text (clone printers without native QR).
Exit codes: 0 printed (or status ready), 2 bad arguments (also: the address answers, but not as an
ESC/POS printer: a wrong address or port), 4 the printer is not ready or the job failed.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from agent.cli.common import EXIT_OK, EXIT_TRANSIENT, EXIT_USAGE, add_output_options, emit, fail
from drivers.printer import (
    Printer,
    PrinterError,
    PrinterProfile,
    PrinterUriError,
    Problem,
    SelfTestSlip,
    Timeouts,
    drawer_pulse,
    make_transport,
    self_test_slip,
)
from drivers.printer.jobs import PrintJob, apply_outcome

NOT_ESCPOS_HINT = ("not an ESC/POS printer at this address (it answered the status query with other bytes): "
                   "check the address and port; network printers take raw print data on port 9100")  # fmt: skip


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "test-print", help="print a self-test slip with a QR code to scan back", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--printer", required=True, metavar="URI", help="tcp://HOST:9100, usb://VID:PID, "
                        "serial:///dev/ttyUSB0?baud=19200 or file:///dev/usb/lp0")  # fmt: skip
    parser.add_argument("--width", type=int, choices=(58, 80), default=80, help="paper width in mm (default 80)")
    parser.add_argument("--image-qr", action="store_true", help="send the QR as an image, not GS ( k")
    parser.add_argument("--code-page", default="CP437", help="pinned code page, e.g. CP437, CP858, GB18030")
    parser.add_argument("--no-status", action="store_true", help="the printer never answers status: print blind")
    parser.add_argument("--status-only", action="store_true", help="only ask the status, print nothing")
    parser.add_argument("--drawer", action="store_true", help="also pulse the cash drawer (pin 2)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per status query (default 2)")
    add_output_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        profile = PrinterProfile(paper_mm=args.width, native_qr=not args.image_qr, code_page=args.code_page,
                                 answers_status=not args.no_status)  # fmt: skip
        printer = Printer(make_transport(args.printer), profile, Timeouts(status=args.timeout))
    except (PrinterUriError, ValueError) as exc:
        return fail(args, EXIT_USAGE, str(exc))
    try:
        return _test(args, printer)
    finally:
        printer.close()


def _test(args: argparse.Namespace, printer: Printer) -> int:
    try:
        status = printer.status()
    except PrinterError as exc:
        return fail(args, EXIT_TRANSIENT, str(exc), {"code": exc.code, "printer": printer.name})
    if status.problem is Problem.NOT_ESCPOS:  # a wrong address: waiting or retrying will not help
        return fail(args, EXIT_USAGE, f"{printer.name}: {NOT_ESCPOS_HINT}",
                    {"code": "PRINTER_NOT_ESCPOS", "printer": printer.name, "status": status.to_json()})  # fmt: skip
    can_read = printer.transport.can_read
    summary = status.summary() if can_read else "not readable on this link"
    if args.status_only:
        data = {"ok": status.ready, "printer": printer.name, "status": status.to_json()}
        emit(args, data, f"{printer.name}: {summary}")
        return EXIT_OK if status.ready else EXIT_TRANSIENT
    qr_text = f"POSAGENT-TEST-{secrets.token_hex(4).upper()}"
    try:
        slip = self_test_slip(SelfTestSlip(args.printer, qr_text, summary), printer.profile)
    except ValueError as exc:
        return fail(args, EXIT_USAGE, str(exc))
    if args.drawer:  # first, so the pulse is part of the slip's job (after the cut it would be a job alone)
        slip = drawer_pulse(printer.profile) + slip
    job = PrintJob(qr_text.lower(), "self-test", slip)
    apply_outcome(job, printer.run(slip))
    data = {"ok": job.state.value == "printed", "printer": printer.name, "qr_text": qr_text, **job.to_json()}
    if data["ok"]:
        emit(args, data, f"{printer.name}: printed a test slip ({len(slip)} bytes, status {summary})\n"
                         f"scan its QR code: it must read {qr_text}")  # fmt: skip
        return EXIT_OK
    detail = {"code": job.error_code, "bytes_sent": job.bytes_sent, "any_sent": job.any_sent}
    return fail(args, EXIT_TRANSIENT, f"{printer.name}: {job.reason}", detail)
