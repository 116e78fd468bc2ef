"""Input devices that could be keyboard-wedge scanners (evdev), with /dev/input/by-id paths.

A wedge scanner is a keyboard to the kernel: it has Enter and the digit keys, and no pointer
axes. Regular keyboards pass that test too, so `likely_scanner` marks the ones whose name says
scanner/barcode; the technician picks.
"""

from __future__ import annotations

import os
import re

from drivers.discovery.records import DeviceRecord, stable_paths

BY_ID_DIR = "/dev/input/by-id"
EV_KEY, EV_REL, EV_ABS = 0x01, 0x02, 0x03
KEY_ENTER = 28
DIGIT_KEYS = frozenset(range(2, 12))  # KEY_1 .. KEY_0
_SCANNER_NAME = re.compile(r"scan|barcode|bar code|honeywell|zebra|symbol|datalogic|newland|zkteco", re.I)


def looks_like_keyboard(capabilities: dict[int, list[int]]) -> bool:
    keys = set(capabilities.get(EV_KEY, ()))
    pointer = EV_REL in capabilities or EV_ABS in capabilities
    return KEY_ENTER in keys and keys >= DIGIT_KEYS and not pointer


def find_input_devices(by_id_dir: str = BY_ID_DIR) -> list[DeviceRecord]:
    import evdev  # noqa: PLC0415 - Linux only

    stable = stable_paths(by_id_dir)
    records = []
    for path in evdev.list_devices():
        try:
            device = evdev.InputDevice(path)
        except OSError:  # no permission or gone in between: skip, the others still count
            continue
        try:
            capabilities = device.capabilities(absinfo=False)
            if not looks_like_keyboard(capabilities):
                continue
            info = device.info
            details = {
                "usb_id": f"{info.vendor:04x}:{info.product:04x}",
                "phys": device.phys or "",
                "likely_scanner": str(bool(_SCANNER_NAME.search(device.name))).lower(),
            }
            records.append(DeviceRecord("input", path, stable.get(os.path.realpath(path)), device.name, details))
        finally:
            device.close()
    return records
