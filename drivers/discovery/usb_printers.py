"""USB printer-class devices (interface class 7): through pyusb, and the kernel's /dev/usb/lp* nodes.

Two finders, so that a PC without libusb still lists its /dev/usb/lp* nodes (and says why USB
could not be listed): register both in FINDERS. A printer the kernel's usblp driver holds shows
up in both; either address works in the config, the usb:// one survives replugging elsewhere.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from drivers.discovery.records import DeviceRecord

PRINTER_CLASS = 7
SYSFS_USBMISC = "/sys/class/usbmisc"


def is_printer(device: Any) -> bool:
    """True when the device or one of its interfaces is of the printer class."""
    if getattr(device, "bDeviceClass", None) == PRINTER_CLASS:
        return True
    try:
        return any(i.bInterfaceClass == PRINTER_CLASS for config in device for i in config)
    except Exception:  # a device we may not read descriptors of is not ours to list
        return False


def find_usb_printers(find: Callable[..., Iterable[Any]] | None = None) -> list[DeviceRecord]:
    """Printer-class devices on the USB buses (pyusb; raises when libusb is missing)."""
    return [_usb_record(d) for d in _usb_devices(find)]


def find_usblp_devices(lp_glob: str = "/dev/usb/lp*", sysfs_dir: str = SYSFS_USBMISC) -> list[DeviceRecord]:
    """The kernel usblp driver's printer nodes."""
    records = []
    for path in sorted(glob.glob(lp_glob)):
        node = os.path.basename(path)
        name = _read(Path(sysfs_dir, node, "device", "..", "product")) or "USB printer (usblp)"
        records.append(DeviceRecord("usb-printer", path, None, name, {"uri": f"file://{path}"}))
    return records


def _usb_devices(find: Callable[..., Iterable[Any]] | None) -> list[Any]:
    if find is None:
        import usb.core  # noqa: PLC0415 - pyusb and libusb only when USB is listed

        find = usb.core.find
    return [d for d in find(find_all=True) if is_printer(d)]


def _usb_record(device: Any) -> DeviceRecord:
    usb_id = f"{device.idVendor:04x}:{device.idProduct:04x}"
    ports = ".".join(str(p) for p in (getattr(device, "port_numbers", None) or ()))
    details = {"usb_id": usb_id, "uri": f"usb://{usb_id}"}
    if ports:
        details["port_uri"] = f"usb://bus/{device.bus}-{ports}"
    name = _string(device, "manufacturer", "product") or f"USB printer {usb_id}"
    path = f"usb:{device.bus:03d}/{device.address:03d}"  # like lsusb: bus/device number
    return DeviceRecord("usb-printer", path, details.get("port_uri"), name, details)


def _string(device: Any, *fields: str) -> str:
    parts = []
    for field in fields:
        try:
            value = getattr(device, field)
        except Exception:  # reading strings needs permission on the device node  # noqa: S112
            continue
        if value:
            parts.append(str(value))
    return " ".join(parts)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
