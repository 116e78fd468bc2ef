"""USB printer-class devices through python-escpos's Usb (pyusb), with bounded writes and reads.

python-escpos writes with no timeout by default and resets the device on every open; here each
chunk gets a pyusb timeout (the rest of the job's deadline), the reset is skipped (it can drop
what the printer buffered), and the bulk endpoints are taken from the printer interface instead
of the usual 0x01/0x82 guess.
"""

from __future__ import annotations

import contextlib
from typing import Any

import usb.core
import usb.util

from drivers.printer.escpos_lib import Usb
from drivers.printer.transport import ChunkUncertain, LinkTransport
from drivers.printer.uri import UsbAddress

PRINTER_CLASS = 7


class _UsbNoReset(Usb):  # type: ignore[misc]  # python-escpos ships no type hints
    def _configure_usb(self) -> None:
        if self.device is not None:
            # Fails when already configured (by the kernel before it was detached): fine.
            with contextlib.suppress(usb.core.USBError):
                self.device.set_configuration()


class UsbTransport(LinkTransport):
    bytes_per_second = 50_000.0

    def __init__(self, address: UsbAddress) -> None:
        super().__init__()
        self.address = address
        self.name = str(address)
        self._printer: Any = None
        self._out_ep: int | None = None
        self._in_ep: int | None = None

    def _open(self) -> None:
        printer = _UsbNoReset(usb_args=usb_match(self.address), timeout=1000)
        printer.open()
        self._out_ep, self._in_ep = bulk_endpoints(printer.device)
        self.can_read = self._in_ep is not None
        self._printer = printer

    def _close(self) -> None:
        printer, self._printer = self._printer, None
        if printer is not None:
            printer.close()

    def _send(self, chunk: bytes, timeout: float) -> int:
        device = self._device()
        try:
            return int(device.write(self._out_ep, chunk, _ms(timeout)))
        except usb.core.USBTimeoutError as exc:
            raise ChunkUncertain(str(exc)) from None
        except usb.core.USBError as exc:
            raise OSError(str(exc)) from exc

    def _recv(self, timeout: float) -> bytes:
        if self._in_ep is None:
            return b""
        try:
            return bytes(self._device().read(self._in_ep, 64, _ms(timeout)))
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            raise OSError(str(exc)) from exc

    def _discard_input(self) -> None:
        while self._recv(0.005):
            pass

    def _device(self) -> Any:
        if self._printer is None or self._printer.device is None:
            raise ConnectionError("not open")
        return self._printer.device


def usb_match(address: UsbAddress) -> dict[str, Any]:
    """pyusb find() arguments for an address: ids, or a custom match on serial number / port path."""
    args: dict[str, Any] = {}
    if address.vendor_id is not None:
        args["idVendor"] = address.vendor_id
    if address.product_id is not None:
        args["idProduct"] = address.product_id
    if address.bus is not None or address.serial_number:

        def match(device: Any) -> bool:
            if address.bus is not None and (device.bus, tuple(device.port_numbers or ())) != (
                address.bus, address.port_path,
            ):  # fmt: skip
                return False
            if address.serial_number:
                try:
                    return bool(usb.util.get_string(device, device.iSerialNumber) == address.serial_number)
                except (usb.core.USBError, ValueError):
                    return False
            return True

        args["custom_match"] = match
    return args


def bulk_endpoints(device: Any) -> tuple[int, int | None]:
    """(OUT, IN or None) bulk endpoint addresses of the printer interface (or the first interface)."""
    config = device.get_active_configuration()
    interfaces = list(config)
    interface = next((i for i in interfaces if i.bInterfaceClass == PRINTER_CLASS), interfaces[0])
    out_ep = in_ep = None
    for endpoint in interface:
        if usb.util.endpoint_type(endpoint.bmAttributes) != usb.util.ENDPOINT_TYPE_BULK:
            continue
        if usb.util.endpoint_direction(endpoint.bEndpointAddress) == usb.util.ENDPOINT_OUT:
            out_ep = out_ep if out_ep is not None else endpoint.bEndpointAddress
        else:
            in_ep = in_ep if in_ep is not None else endpoint.bEndpointAddress
    if out_ep is None:
        raise usb.core.USBError("the printer interface has no bulk OUT endpoint")
    return out_ep, in_ep


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
