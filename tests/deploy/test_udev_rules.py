"""deploy/udev/60-posagent.rules, read the way udev reads a rule line, against the devices it is for.

udev itself needs real devices in /sys; what can go wrong in the file is checked here: each kind of
receipt printer gets group lp on its device node, each vendor the comments name has its rule, and a
RUN program that names a device node names it as the kernel does (/dev/bus/usb/001/004, padded).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "deploy" / "udev" / "60-posagent.rules"
_PAIR = re.compile(r'\s*([A-Z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class Rule:
    matches: list[tuple[str, str, str]]  # key, == or !=, glob
    assigns: dict[str, str]  # GROUP, MODE, ...
    runs: list[str]


def rules() -> list[Rule]:
    found = []
    for line in RULES.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs = _PAIR.findall(line)
        assert "".join(f'{k}{op}"{v}",' for k, op, v in pairs).replace(" ", "") == line.replace(", ", ",").replace(
            " ", "") + ("" if line.rstrip().endswith(",") else ","), f"cannot read: {line}"
        found.append(Rule([(k, op, v) for k, op, v in pairs if op in ("==", "!=")],
                          {k: v for k, op, v in pairs if op in ("=", ":=")},
                          [v for k, op, v in pairs if k == "RUN"]))  # fmt: skip
    return found


def _matches(glob: str, value: str | None) -> bool:
    return value is not None and any(fnmatch.fnmatchcase(value, alt) for alt in glob.split("|"))


def applied(device: dict[str, str]) -> dict[str, str]:
    """The GROUP and MODE udev would give a device with these properties (later rules win)."""
    result: dict[str, str] = {}
    for rule in rules():
        if all(_matches(glob, device.get(key)) == (op == "==") for key, op, glob in rule.matches):
            result.update(rule.assigns)
    return result


def usb_device(**props: str) -> dict[str, str]:
    return {"SUBSYSTEM": "usb", "ENV{DEVTYPE}": "usb_device", **props}


@pytest.mark.parametrize("interfaces", [":070102:", ":ff0000:070101:", ":030101:070201:"])
def test_a_printer_class_device_node_goes_to_lp(interfaces: str) -> None:
    assert applied(usb_device(**{"ENV{ID_USB_INTERFACES}": interfaces, "ATTR{idVendor}": "1234"})) == {
        "GROUP": "lp", "MODE": "0660"}  # fmt: skip


def test_other_usb_devices_are_left_alone() -> None:
    assert applied(usb_device(**{"ENV{ID_USB_INTERFACES}": ":030101:", "ATTR{idVendor}": "046d"})) == {}
    assert applied({"SUBSYSTEM": "usb", "ENV{DEVTYPE}": "usb_interface", "ATTR{bInterfaceClass}": "07"}) == {}


def test_the_kernel_printer_node_goes_to_lp() -> None:
    assert applied({"SUBSYSTEM": "usbmisc", "KERNEL": "lp0"})["GROUP"] == "lp"


def test_every_vendor_named_in_the_comments_has_its_rule() -> None:
    comments = " ".join(line for line in RULES.read_text().splitlines() if line.startswith("#"))
    vendors = set(re.findall(r"\b([0-9a-f]{4})\b", comments))
    assert {"04b8", "1d90", "0519", "1504", "0416", "0483", "0fe6", "20d1"} <= vendors
    for vendor in vendors:
        device = usb_device(**{"ENV{ID_USB_INTERFACES}": ":ff0000:", "ATTR{idVendor}": vendor})
        assert applied(device) == {"GROUP": "lp", "MODE": "0660"}, vendor


def test_keyboard_wedge_scanners_are_readable_by_input() -> None:
    scanner = {"SUBSYSTEM": "input", "KERNEL": "event7", "ENV{ID_INPUT_KEYBOARD}": "1", "ENV{ID_BUS}": "usb"}
    assert applied(scanner) == {"GROUP": "input", "MODE": "0640"}


def test_a_run_program_names_device_nodes_as_the_kernel_does() -> None:
    # Bus 1, device 4 is /dev/bus/usb/001/004; udev's %s{busnum} / $attr{busnum} give "1" and "4".
    values = {"busnum": "1", "devnum": "4"}
    for rule in rules():
        for program in rule.runs:
            expanded = re.sub(r"(?:%s|\$attr)\{(?:\.\./)?(busnum|devnum)\}", lambda m: values[m.group(1)], program)
            for node in re.findall(r"/dev/bus/usb/\S*", expanded):
                assert re.fullmatch(r"/dev/bus/usb/\d{3}/\d{3}[;'\"]*", node), f"{program!r} names {node}"
