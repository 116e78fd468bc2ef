"""USB printer discovery: printer-class devices through pyusb, and the kernel's /dev/usb/lp* nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivers.discovery import discover
from drivers.discovery.usb_printers import find_usb_printers, find_usblp_devices, is_printer


class Interface:
    def __init__(self, cls: int) -> None:
        self.bInterfaceClass = cls


class Device:
    def __init__(self, vid: int, pid: int, interface_classes: list[int], product: str | None = None) -> None:
        self.idVendor, self.idProduct, self.bDeviceClass = vid, pid, 0
        self.bus, self.address, self.port_numbers = 1, 7, (1, 4)
        self._configs = [[Interface(c) for c in interface_classes]]
        self._product = product

    def __iter__(self) -> Any:
        return iter(self._configs)

    @property
    def manufacturer(self) -> str:
        raise ValueError("The device has no langid")  # what pyusb says without permission

    @property
    def product(self) -> str | None:
        return self._product


def test_only_printer_class_devices_are_listed_with_their_config_uris() -> None:
    printer = Device(0x04B8, 0x0E15, [7], product="TM-T20II")
    scanner = Device(0x05E0, 0x1200, [3])
    composite = Device(0x0416, 0x5011, [3, 7])  # a printer with a HID interface too

    def find(find_all: bool) -> list[Device]:
        assert find_all
        return [printer, scanner, composite]

    records = find_usb_printers(find)
    assert [r.details["usb_id"] for r in records] == ["04b8:0e15", "0416:5011"]
    first = records[0]
    assert (first.kind, first.path, first.name) == ("usb-printer", "usb:001/007", "TM-T20II")
    assert first.details["uri"] == "usb://04b8:0e15"
    assert first.stable_path == first.details["port_uri"] == "usb://bus/1-1.4"
    assert records[1].name == "USB printer 0416:5011"  # no readable strings: still listed
    assert not is_printer(scanner)


def test_kernel_printer_nodes_are_listed_as_file_uris(tmp_path: Path) -> None:
    (tmp_path / "lp0").touch()
    (tmp_path / "lp1").touch()
    records = find_usblp_devices(lp_glob=str(tmp_path / "lp*"), sysfs_dir=str(tmp_path / "sys"))
    assert [r.details["uri"] for r in records] == [f"file://{tmp_path}/lp0", f"file://{tmp_path}/lp1"]
    assert all(r.kind == "usb-printer" for r in records)


def test_a_missing_libusb_is_reported_while_the_other_finder_still_lists(tmp_path: Path) -> None:
    def no_backend() -> list[Any]:
        raise RuntimeError("No backend available")

    (tmp_path / "lp0").touch()
    result = discover({"usb-printer": no_backend,
                       "usblp": lambda: find_usblp_devices(lp_glob=str(tmp_path / "lp*"))})  # fmt: skip
    assert [r.path for r in result.devices] == [str(tmp_path / "lp0")]
    assert result.errors == {"usb-printer": "RuntimeError: No backend available"}
