"""Finding devices, kept apart from talking to them (as in Odoo's IoT box).

`discover()` runs every finder in `FINDERS` and survives any of them failing (a missing kernel
module, no permission on /dev/input...): the failure is reported next to what the others found.
Adding a device kind = one small module with a `find_*() -> list[DeviceRecord]` added to FINDERS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from drivers.discovery.cameras import find_cameras
from drivers.discovery.input_devices import find_input_devices
from drivers.discovery.records import DeviceRecord, DiscoveryResult
from drivers.discovery.serial_ports import find_serial_ports
from drivers.discovery.usb_printers import find_usb_printers, find_usblp_devices

Finder = Callable[[], list[DeviceRecord]]

FINDERS: dict[str, Finder] = {
    "serial": find_serial_ports,
    "input": find_input_devices,
    "camera": find_cameras,
    # Two printer finders: /dev/usb/lp* is still listed when libusb is missing.
    "usb-printer": find_usb_printers,
    "usblp": find_usblp_devices,
}


def discover(finders: dict[str, Finder] | None = None, kinds: Sequence[str] | None = None) -> DiscoveryResult:
    devices: list[DeviceRecord] = []
    errors: dict[str, str] = {}
    for name, finder in (finders if finders is not None else FINDERS).items():
        if kinds is not None and name not in kinds:
            continue
        try:
            devices += finder()
        except Exception as exc:  # one broken finder must not hide the other devices
            errors[name] = f"{type(exc).__name__}: {exc}"
    return DiscoveryResult(devices, errors)


__all__ = ["FINDERS", "DeviceRecord", "DiscoveryResult", "Finder", "discover"]
