"""Serial ports (USB CDC-ACM, USB-serial, RS-232) with their /dev/serial/by-id paths."""

from __future__ import annotations

import os

from serial.tools import list_ports

from drivers.discovery.records import DeviceRecord, stable_paths

BY_ID_DIR = "/dev/serial/by-id"


def find_serial_ports(by_id_dir: str = BY_ID_DIR) -> list[DeviceRecord]:
    stable = stable_paths(by_id_dir)
    records = []
    for port in list_ports.comports():
        details = {"hwid": port.hwid}
        if port.vid is not None and port.pid is not None:
            details["usb_id"] = f"{port.vid:04x}:{port.pid:04x}"
        for key in ("manufacturer", "product", "serial_number"):
            if value := getattr(port, key, None):
                details[key] = str(value)
        records.append(DeviceRecord("serial", port.device, stable.get(os.path.realpath(port.device)),
                                    port.description or port.name or port.device, details))  # fmt: skip
    # Ports pyserial does not list (a simulator's pty behind a by-id link, say) still count.
    listed = {os.path.realpath(r.path) for r in records}
    for target, link in stable.items():
        if target not in listed:
            records.append(DeviceRecord("serial", target, link, os.path.basename(link)))
    return records
