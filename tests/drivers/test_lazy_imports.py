"""Importing a driver package loads no device library: those come with the device that needs them.

Finding devices is separate from talking to them, and the daemon imports every package whatever is
configured: OpenCV, python-escpos (and its printer database), Pillow, pyserial or pyusb are loaded
by the transport, decoder or slip that uses them. Checked in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("cv2", "numpy", "zxingcpp", "pyzbar", "escpos.escpos", "escpos.capabilities", "qrcode", "PIL", "usb", "evdev")


def loaded_after(code: str) -> set[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("code", [
    "import drivers.printer, drivers.scanners, drivers.discovery",
    "from drivers.printer import make_transport, PrinterProfile; make_transport('tcp://127.0.0.1:9100')",
    "from drivers.discovery import discover; discover(kinds=['camera', 'serial', 'usblp'])",
])  # fmt: skip
def test_importing_the_drivers_loads_no_device_library(code: str) -> None:
    assert loaded_after(code) == set()


def test_a_serial_printer_loads_python_escpos_when_its_transport_is_made() -> None:
    assert "escpos.escpos" in loaded_after(
        "from drivers.printer import make_transport; make_transport('serial:///dev/ttyS0')"
    )


def test_the_first_slip_loads_the_slip_libraries() -> None:
    loaded = loaded_after("from drivers.printer import PrinterProfile, Receipt, receipt\n"
                          "receipt(Receipt(lines=('x',), qr='https://example.com/'), PrinterProfile())")  # fmt: skip
    assert {"escpos.escpos", "qrcode"} <= loaded
    assert "cv2" not in loaded


@pytest.mark.parametrize("code", [
    "from drivers.printer import PrinterProfile, Receipt, receipt\n"
    "receipt(Receipt(lines=('x',), qr='https://example.com/'), PrinterProfile())",
    "from drivers.printer import make_transport; make_transport('serial:///dev/ttyS0')",
])  # fmt: skip
def test_loading_python_escpos_leaves_no_temporary_directory_behind(tmp_path: Path, code: str) -> None:
    """python-escpos pickles its printer database into a new mkdtemp() directory it never removes."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    subprocess.run([sys.executable, "-c", f"{code}\nimport sys; assert 'escpos.escpos' in sys.modules"],
                   env={**os.environ, "TMPDIR": str(scratch)}, check=True, timeout=60)  # fmt: skip
    assert list(scratch.iterdir()) == []
