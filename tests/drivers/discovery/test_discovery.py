"""Device discovery: small finders, stable paths, and a discover() that survives failures."""

from __future__ import annotations

from pathlib import Path

from drivers.discovery import DeviceRecord, discover
from drivers.discovery.cameras import find_cameras
from drivers.discovery.input_devices import looks_like_keyboard
from drivers.discovery.records import stable_paths
from drivers.discovery.serial_ports import find_serial_ports
from hardware_sim.scanner import SerialScannerSimulator


def test_stable_paths_map_devices_to_their_by_id_links(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    target = tmp_path / "dev" / "ttyACM0"
    target.touch()
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-Vendor_Scanner_123-if00").symlink_to(target)
    assert stable_paths(by_id) == {str(target): str(by_id / "usb-Vendor_Scanner_123-if00")}
    assert stable_paths(tmp_path / "missing") == {}


def test_a_simulated_scanner_is_found_by_its_by_id_path() -> None:
    with SerialScannerSimulator() as sim:
        by_id_dir = str(Path(sim.path).parent)
        [record] = [r for r in find_serial_ports(by_id_dir) if r.stable_path == sim.path]
        assert record.kind == "serial"
        assert record.path == sim.slave_path


def test_cameras_are_listed_with_sysfs_names_and_by_id_paths(tmp_path: Path) -> None:
    dev, sysfs, by_id = tmp_path / "dev", tmp_path / "sys", tmp_path / "by-id"
    for d in (dev, by_id):
        d.mkdir()
    for n, name in ((0, "USB Camera: HD"), (1, "USB Camera: HD"), (10, "Other")):
        (dev / f"video{n}").touch()
        (sysfs / f"video{n}").mkdir(parents=True)
        (sysfs / f"video{n}" / "name").write_text(name + "\n")
        (sysfs / f"video{n}" / "index").write_text(f"{n % 2}\n")
    (by_id / "usb-Cam_123-video-index0").symlink_to(dev / "video0")
    records = find_cameras(str(dev / "video*"), str(by_id), str(sysfs))
    assert [r.path for r in records] == [str(dev / "video0"), str(dev / "video1"), str(dev / "video10")]
    assert records[0].name == "USB Camera: HD"
    assert records[0].stable_path == str(by_id / "usb-Cam_123-video-index0")
    assert records[1].details["index"] == "1"


def test_no_cameras_is_an_empty_list(tmp_path: Path) -> None:
    assert find_cameras(str(tmp_path / "video*"), str(tmp_path), str(tmp_path)) == []


def test_keyboard_like_capabilities() -> None:
    keyboard = {1: [28, *range(2, 12), 30, 31]}
    assert looks_like_keyboard(keyboard)
    assert not looks_like_keyboard({1: [28, 272], 2: [0, 1]})  # a mouse
    assert not looks_like_keyboard({1: [28, *range(2, 12)], 3: [0, 1]})  # a touch screen
    assert not looks_like_keyboard({1: [116]})  # a power button


def test_discover_survives_a_failing_finder() -> None:
    scanner = DeviceRecord("serial", "/dev/ttyACM0", "/dev/serial/by-id/x", "Scanner")

    def broken() -> list[DeviceRecord]:
        raise PermissionError("no access to /dev/input")

    result = discover({"serial": lambda: [scanner], "input": broken, "camera": list})
    assert result.devices == [scanner]
    assert result.errors == {"input": "PermissionError: no access to /dev/input"}
    assert result.to_json()["devices"][0]["stable_path"] == "/dev/serial/by-id/x"


def test_discover_can_run_some_kinds_only() -> None:
    calls: list[str] = []
    finders = {"serial": lambda: calls.append("serial") or [], "camera": lambda: calls.append("camera") or []}
    discover(finders, kinds=["camera"])
    assert calls == ["camera"]


def test_the_real_finders_run_here_without_raising() -> None:
    result = discover()
    assert isinstance(result.devices, list)
    assert set(result.errors) <= {"serial", "input", "camera"}
