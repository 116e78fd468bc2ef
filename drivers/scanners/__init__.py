"""Barcode scanners: serial (pyserial) and USB keyboard-wedge (evdev).

Pure parts (framing, HID key map) are separate from the thin I/O shells (serial, hid), which run
blocking reads in a worker thread and hand `ScanEvent` / `DeviceStatus` / `DeviceWarning` to a sink.
"""

from drivers.scanners.base import AsyncEventBridge, Backoff, DeviceWorker, EventSink
from drivers.scanners.events import DeviceState, DeviceStatus, DeviceWarning, ScanEvent, ScannerEvent, SourceKind
from drivers.scanners.framing import FramingConfig, Terminator
from drivers.scanners.hid import HidScanner
from drivers.scanners.serial import SerialScanner

__all__ = [
    "AsyncEventBridge",
    "Backoff",
    "DeviceState",
    "DeviceStatus",
    "DeviceWarning",
    "DeviceWorker",
    "EventSink",
    "FramingConfig",
    "HidScanner",
    "ScanEvent",
    "ScannerEvent",
    "SerialScanner",
    "SourceKind",
    "Terminator",
]
