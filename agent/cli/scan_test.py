"""`posagent scan-test`: read codes from scanners and cameras, show each one's class and device.

Payment codes stay masked here too: a technician's screen or terminal log is no place for them.

    posagent scan-test --serial /dev/serial/by-id/usb-... --terminator cr
    posagent scan-test --hid /dev/input/by-id/usb-...-event-kbd --camera /dev/video0 --seconds 60
    posagent scan-test --image slip.png photo.jpg --decoder pyzbar --json
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli.common import EXIT_OK, EXIT_USAGE, add_output_options, fail
from agent.codes import Classification, classify, display
from drivers.camera.symbologies import DEFAULT_SYMBOLOGIES, SYMBOLOGIES
from drivers.scanners import FramingConfig, Terminator
from drivers.scanners.base import DeviceWorker
from drivers.scanners.events import DeviceStatus, DeviceWarning, ScanEvent, ScannerEvent
from drivers.scanners.hid import HidScanner
from drivers.scanners.serial import SerialScanner

if TYPE_CHECKING:
    from drivers.camera.decoders import Decoder

# The names of drivers.camera.decoders.DECODERS (a test keeps them equal): `posagent` builds every command's
# parser on each start, and importing the camera driver would load OpenCV and numpy into the daemon too.
DECODER_NAMES = ("pyzbar", "zxing")

TERMINATORS = {"cr": Terminator.CR, "lf": Terminator.LF, "crlf": Terminator.CRLF, "none": Terminator.NONE}


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "scan-test", help="show codes read by scanners and cameras (or decoded from image files)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    devices = parser.add_argument_group("devices (any number of each)")
    devices.add_argument("--serial", action="append", default=[], metavar="PATH", help="serial scanner port")
    devices.add_argument("--hid", action="append", default=[], metavar="PATH", help="keyboard-wedge input device")
    devices.add_argument("--camera", action="append", default=[], metavar="SOURCE",
                         help="camera: /dev/videoN, an index, or a video file")  # fmt: skip
    devices.add_argument("--image", nargs="+", default=[], metavar="FILE", help="decode still images and exit")
    framing = parser.add_argument_group("scanner settings")
    framing.add_argument("--baud", type=int, default=9600)
    framing.add_argument("--terminator", choices=sorted(TERMINATORS), default="cr")
    framing.add_argument("--prefix", default="", help="prefix the scanner is programmed to send")
    framing.add_argument("--suffix", default="", help="suffix the scanner is programmed to send")
    framing.add_argument("--inter-char-gap", type=_gap, metavar="SECONDS",
                         help="a longer pause inside a line drops it as a cut read (default 0.05 serial, 0.2 hid)")
    framing.add_argument("--decoder", choices=DECODER_NAMES, default="zxing", help="camera/image decoder")
    framing.add_argument("--symbology", action="append", choices=list(SYMBOLOGIES), metavar="TYPE",
                         help="code type the camera/image decoder looks for, repeatable (default: qrcode; "
                              f"one of {', '.join(SYMBOLOGIES)})")  # fmt: skip
    classes = parser.add_argument_group("classification")
    classes.add_argument("--card-prefix", action="append", default=[], help="membership card number prefix")
    classes.add_argument("--card-length", type=int, help="membership card number length")
    stop = parser.add_argument_group("when to stop (default: Ctrl-C)")
    stop.add_argument("--count", type=int, help="stop after this many codes")
    stop.add_argument("--seconds", type=float, help="stop after this long")
    add_output_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.image:
        return decode_images(args)
    if not (args.serial or args.hid or args.camera):
        return fail(args, EXIT_USAGE, "nothing to test: give --serial, --hid, --camera or --image")
    return watch(args)


def _classify(args: argparse.Namespace, text: str) -> Classification:
    return classify(text, card_prefixes=args.card_prefix, card_length=args.card_length)


def decode_images(args: argparse.Namespace) -> int:
    import cv2  # noqa: PLC0415 - OpenCV and numpy: only for this command

    decoder: Decoder = _decoder(args)
    worst = EXIT_OK
    for file in args.image:
        # OpenCV prints its own warning for missing files; check first so the message is ours.
        image = cv2.imread(file, cv2.IMREAD_GRAYSCALE) if Path(file).is_file() else None
        if image is None:
            worst = EXIT_USAGE
            _print(args, {"file": file, "error": "cannot read image"}, f"{file}: cannot read image")
            continue
        started = time.perf_counter()
        texts = decoder.decode(image)
        ms = (time.perf_counter() - started) * 1000
        codes = [_code_json(args, text) for text in texts]
        human = f"{file}: {len(codes)} code(s) in {ms:.1f} ms ({decoder.name})"
        human += "".join(f"\n  {c['class']}: {c['code']}" for c in codes)
        _print(args, {"file": file, "decoder": decoder.name, "ms": round(ms, 2), "codes": codes}, human)
    return worst


def _decoder(args: argparse.Namespace) -> Decoder:
    from drivers.camera import make_decoder  # noqa: PLC0415 - OpenCV: only when a decoder is needed

    return make_decoder(args.decoder, args.symbology or DEFAULT_SYMBOLOGIES)


def _gap(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 5:  # also false for nan
        raise argparse.ArgumentTypeError(f"expected seconds, more than 0 and at most 5, got {text!r}")
    return value


def _code_json(args: argparse.Namespace, text: str) -> dict[str, Any]:
    result = _classify(args, text)
    return {"class": result.kind.value, "supported": result.supported, "detail": result.detail,
            "code": display(text, result)}  # fmt: skip


def watch(args: argparse.Namespace) -> int:
    events: queue.Queue[ScannerEvent] = queue.Queue()
    framing = FramingConfig(terminator=TERMINATORS[args.terminator], prefix=args.prefix.encode(),
                            suffix=args.suffix.encode(), inter_char_gap=args.inter_char_gap)  # fmt: skip
    workers: list[DeviceWorker] = [
        SerialScanner(p, events.put, baudrate=args.baud, framing=framing) for p in args.serial
    ]
    workers += [HidScanner(p, events.put, framing=framing) for p in args.hid]
    if args.camera:
        from drivers.camera import CameraScanner  # noqa: PLC0415 - OpenCV: only for a camera
    for source in args.camera:
        camera_source: str | int = int(source) if source.isascii() and source.isdigit() else source
        workers.append(CameraScanner(camera_source, events.put, decoder=_decoder(args)))
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    codes = 0
    for worker in workers:
        worker.start()
    try:
        while args.count is None or codes < args.count:
            timeout = 0.5 if deadline is None else deadline - time.monotonic()
            if timeout <= 0:
                break
            try:
                event = events.get(timeout=min(timeout, 0.5))
            except queue.Empty:
                continue
            codes += isinstance(event, ScanEvent)
            _show(args, event)
    except KeyboardInterrupt:
        pass
    finally:
        for worker in workers:
            worker.stop()
    return EXIT_OK


def _show(args: argparse.Namespace, event: ScannerEvent) -> None:
    if isinstance(event, ScanEvent):
        code = _code_json(args, event.code)
        data = {"event": "scan", "device": event.device, "source": event.source.value, **code,
                "symbology": event.symbology}  # fmt: skip
        symbology = f" [{event.symbology}]" if event.symbology else ""
        _print(args, data, f"{event.device}: {code['class']} {code['code']}{symbology}")
    elif isinstance(event, DeviceStatus):
        data = {"event": "status", "device": event.device, "state": event.state.value, "detail": event.detail}
        _print(args, data, f"{event.device}: {event.state.value}{f' ({event.detail})' if event.detail else ''}")
    elif isinstance(event, DeviceWarning):
        data = {"event": "warning", "device": event.device, "reason": event.reason}
        _print(args, data, f"{event.device}: warning: {event.reason}")


def _print(args: argparse.Namespace, data: dict[str, Any], human: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if args.json else human, flush=True)
