"""The serial-scanner simulator behaves like a scanner on a USB port."""

from __future__ import annotations

import os
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import serial

from hardware_sim.scanner import SerialScannerSimulator


def read_exactly(port: serial.Serial, n: int) -> bytes:
    data = port.read(n)
    assert len(data) == n, data
    return data


def test_path_is_a_stable_symlink_to_a_pty() -> None:
    with SerialScannerSimulator() as sim:
        assert Path(sim.path).is_symlink()
        assert "/by-id/" in sim.path
        assert os.path.realpath(sim.path) == sim.slave_path
        assert sim.slave_path is not None and sim.slave_path.startswith("/dev/pts/")


def test_scan_sends_the_framed_code_byte_for_byte() -> None:
    with SerialScannerSimulator(terminator=b"\r\n", prefix=b"<", suffix=b">", aim_id="]C0") as sim:
        frame = sim.frame("2865")
        assert frame == b"<]C02865>\r\n"
        with serial.Serial(sim.path, timeout=5) as port:
            sim.scan("2865")
            sim.send_raw(b"\x00\xff\r")  # raw bytes pass untouched: no CR->LF, no echo
            assert read_exactly(port, len(frame) + 3) == frame + b"\x00\xff\r"


def test_unplug_removes_the_path_and_breaks_open_ports() -> None:
    with SerialScannerSimulator() as sim, serial.Serial(sim.path, timeout=1) as port:
        sim.unplug()
        assert not os.path.lexists(sim.path)
        with pytest.raises((serial.SerialException, termios.error, OSError)):
            port.read(1)
        with pytest.raises(OSError, match="unplugged"):
            sim.scan("X")


def test_replug_brings_the_same_path_back() -> None:
    with SerialScannerSimulator() as sim:
        sim.unplug()
        sim.replug()
        with serial.Serial(sim.path, timeout=5) as port:
            sim.scan("AGAIN")
            assert read_exactly(port, 6) == b"AGAIN\r"


def test_link_path_can_be_chosen_and_is_cleaned_up(tmp_path: Path) -> None:
    link = tmp_path / "serial" / "by-id" / "usb-Test_Scanner-if00"
    with SerialScannerSimulator(link) as sim:
        assert sim.path == str(link)
        assert link.is_symlink()
    assert not os.path.lexists(link)


def test_cli_prints_the_path_and_scans_stdin_lines(tmp_path: Path) -> None:
    link = tmp_path / "by-id" / "scanner"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hardware_sim.cli", "scanner", "--link", str(link), "--aim", "]Q1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == str(link)
        with serial.Serial(str(link), timeout=5) as port:
            proc.stdin.write("2865\n!raw 00ff0d\n!cut 286543210987\n")
            proc.stdin.flush()
            assert read_exactly(port, 8 + 3) == b"]Q12865\r\x00\xff\r"
            assert read_exactly(port, 11 + 16) == b"]Q128654321" + b"]Q1286543210987\r"  # a cut read, then the code
        proc.stdin.write("!quit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
    assert not os.path.lexists(link)


def test_a_cut_read_sends_a_fragment_then_after_a_pause_the_whole_code_in_one_burst() -> None:
    with SerialScannerSimulator(prefix=b"<", aim_id="]Q1") as sim, serial.Serial(sim.path, timeout=5) as port:
        sim.scan_after_cut_read("286543210987654321", fragment_chars=4, pause=0.2)
        assert read_exactly(port, 8) == b"<]Q12865"
        assert read_exactly(port, len(sim.frame("286543210987654321"))) == sim.frame("286543210987654321")
