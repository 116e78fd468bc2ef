"""Serial scanners over the simulated pty: codes, classes, garbage, hot-plug."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agent.codes import CodeClass, classify
from drivers.scanners import hid as hid_shell
from drivers.scanners import serial as serial_shell
from drivers.scanners.base import AsyncEventBridge, Backoff
from drivers.scanners.events import DeviceState, DeviceStatus, ScanEvent, SourceKind
from drivers.scanners.framing import FramingConfig, Terminator
from drivers.scanners.serial import SerialScanner
from hardware_sim.scanner import SerialScannerSimulator
from tests.drivers.scanners.collector import Collector

PAYMENT_CODE = "286543210987654321"
ACTIVATION_URL = "https://memberprod.alipay.com/account/openform/activecard.htm?app_id=1&template_id=2"


@pytest.fixture
def sim() -> Iterator[SerialScannerSimulator]:
    with SerialScannerSimulator() as simulator:
        yield simulator


@pytest.fixture
def collector() -> Collector:
    return Collector()


def start(sim: SerialScannerSimulator, collector: Collector, framing: FramingConfig | None = None) -> SerialScanner:
    scanner = SerialScanner(sim.path, collector, framing=framing, backoff=Backoff(initial=0.02, maximum=0.2))
    scanner.start()
    collector.wait_state(DeviceState.CONNECTED)
    return scanner


def test_codes_arrive_as_events_with_the_right_class(sim: SerialScannerSimulator, collector: Collector) -> None:
    scanner = start(sim, collector)
    try:
        for code in (PAYMENT_CODE, "VIP0001234", ACTIVATION_URL, "134567890123456789"):
            sim.scan(code)
        scans = collector.wait_scans(4)
    finally:
        scanner.stop()
    classes = [classify(s.code, card_prefixes=("VIP",), card_length=10).kind for s in scans]
    assert classes == [CodeClass.ALIPAY_PAYMENT, CodeClass.MEMBER_CARD, CodeClass.ACTIVATION_URL,
                       CodeClass.WECHAT_PAYMENT]  # fmt: skip
    assert all(s.device == sim.path and s.source is SourceKind.SERIAL for s in scans)


def test_settings_match_the_scanner_programming(collector: Collector) -> None:
    with SerialScannerSimulator(terminator=b"\r\n", prefix=b"\x02", suffix=b"#", aim_id="]Q1") as sim:
        framing = FramingConfig(terminator=Terminator.CRLF, prefix=b"\x02", suffix=b"#")
        scanner = start(sim, collector, framing)
        try:
            sim.scan(PAYMENT_CODE)
            [scan] = collector.wait_scans(1)
        finally:
            scanner.stop()
    assert (scan.code, scan.symbology, scan.aim_id) == (PAYMENT_CODE, "QRCode", "]Q1")


def test_no_terminator_codes_end_on_idle(collector: Collector) -> None:
    with SerialScannerSimulator(terminator=b"") as sim:
        scanner = start(sim, collector, FramingConfig(terminator=Terminator.NONE, idle_timeout=0.05))
        try:
            sim.scan(PAYMENT_CODE)
            [scan] = collector.wait_scans(1)
        finally:
            scanner.stop()
    assert scan.code == PAYMENT_CODE


def test_garbage_is_rejected_with_a_warning_and_good_codes_still_pass(
    sim: SerialScannerSimulator, collector: Collector
) -> None:
    scanner = start(sim, collector, FramingConfig(max_length=64))
    try:
        sim.send_raw(b"\xff\xfe\x00\x9c\r")  # binary
        sim.send_raw(b"28654\x07321\r")  # control character
        sim.send_raw(b"9" * 500 + b"\r")  # over-long
        sim.scan(PAYMENT_CODE)
        collector.wait_for(lambda _: len(collector.scans()) == 1 and len(collector.warnings()) == 3)
    finally:
        scanner.stop()
    assert [s.code for s in collector.scans()] == [PAYMENT_CODE]
    assert all("6543210987" not in w.reason for w in collector.warnings())


def test_unplug_and_replug_recovers(sim: SerialScannerSimulator, collector: Collector) -> None:
    scanner = start(sim, collector)
    try:
        sim.scan("BEFORE")
        collector.wait_scans(1)
        sim.unplug()
        collector.wait_state(DeviceState.RECONNECTING)
        sim.replug()
        collector.wait_state(DeviceState.CONNECTED, occurrences=2)
        sim.scan("AFTER")
        scans = collector.wait_scans(2)
    finally:
        scanner.stop()
    assert [s.code for s in scans] == ["BEFORE", "AFTER"]
    assert collector.states() == [DeviceState.CONNECTED, DeviceState.RECONNECTING, DeviceState.CONNECTED,
                                  DeviceState.STOPPED]  # fmt: skip


def test_a_scanner_absent_at_start_is_found_when_plugged(collector: Collector) -> None:
    sim = SerialScannerSimulator()
    scanner = SerialScanner(sim.path, collector, backoff=Backoff(initial=0.02, maximum=0.2))
    scanner.start()
    try:
        collector.wait_state(DeviceState.RECONNECTING)
        sim.open()
        collector.wait_state(DeviceState.CONNECTED)
        sim.scan("LATE")
        assert [s.code for s in collector.wait_scans(1)] == ["LATE"]
    finally:
        scanner.stop()
        sim.close()


def test_a_failing_consumer_does_not_stop_the_reader(sim: SerialScannerSimulator) -> None:
    seen: list[str] = []

    def flaky_sink(event: object) -> None:
        if isinstance(event, ScanEvent):
            seen.append(event.code)
            if len(seen) == 1:
                raise RuntimeError("consumer bug")

    collector = Collector()
    scanner = SerialScanner(sim.path, lambda e: (collector(e), flaky_sink(e)))
    scanner.start()
    try:
        collector.wait_state(DeviceState.CONNECTED)
        sim.scan("ONE")
        sim.scan("TWO")
        collector.wait_scans(2)
    finally:
        scanner.stop()
    assert seen == ["ONE", "TWO"]


def test_events_reach_an_asyncio_loop(sim: SerialScannerSimulator) -> None:
    async def main() -> list[str]:
        bridge = AsyncEventBridge()
        with SerialScanner(sim.path, bridge.sink):
            codes: list[str] = []
            async with asyncio.timeout(10):
                async for event in bridge.events():
                    if isinstance(event, DeviceStatus) and event.state is DeviceState.CONNECTED:
                        sim.scan(PAYMENT_CODE)
                        sim.scan("VIP0001234")
                    if isinstance(event, ScanEvent):
                        codes.append(event.code)
                        if len(codes) == 2:
                            return codes
        return []

    assert asyncio.run(main()) == [PAYMENT_CODE, "VIP0001234"]


def test_scan_events_do_not_show_the_code_in_repr() -> None:
    event = ScanEvent(PAYMENT_CODE, "/dev/x", SourceKind.SERIAL, 0.0)
    assert PAYMENT_CODE not in repr(event)


def test_backoff_grows_and_its_default_cap_bounds_replug_recovery_well_under_2_s() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay() for _ in range(30)]
    assert delays[1] > delays[0]
    assert max(delays) <= 0.5  # a replugged scanner is retried at most half a second later
    backoff.reset()
    assert backoff.next_delay() <= 0.055


def test_a_cut_read_then_the_full_code_within_a_second_gives_the_code_alone(
    sim: SerialScannerSimulator, collector: Collector
) -> None:
    scanner = start(sim, collector)  # the serial default gap (50 ms)
    try:
        sim.scan_after_cut_read(PAYMENT_CODE, fragment_chars=8, pause=0.3)
        sim.scan("VIP0001234")  # and the reader goes on as usual
        collector.wait_scans(2)
    finally:
        scanner.stop()
    assert [s.code for s in collector.scans()] == [PAYMENT_CODE, "VIP0001234"]
    [warning] = collector.warnings()
    assert "fragment dropped" in warning.reason and PAYMENT_CODE[:8] not in warning.reason


def test_the_gap_is_configurable(sim: SerialScannerSimulator, collector: Collector) -> None:
    scanner = start(sim, collector, FramingConfig(inter_char_gap=2.0))  # a scanner set to pause between characters
    try:
        sim.scan_after_cut_read(PAYMENT_CODE, fragment_chars=8, pause=0.3)
        collector.wait_scans(1)
    finally:
        scanner.stop()
    assert [s.code for s in collector.scans()] == [PAYMENT_CODE[:8] + PAYMENT_CODE]  # within 2 s: one line


def test_each_transport_has_its_own_default_gap_and_a_setting_wins(collector: Collector) -> None:
    assert SerialScanner("/dev/null", collector).framing.inter_char_gap == serial_shell.DEFAULT_INTER_CHAR_GAP
    assert hid_shell.HidScanner("/dev/null", collector).framing.inter_char_gap == hid_shell.DEFAULT_INTER_CHAR_GAP
    assert serial_shell.DEFAULT_INTER_CHAR_GAP < hid_shell.DEFAULT_INTER_CHAR_GAP  # key events come slower than UART bytes
    chosen = FramingConfig(inter_char_gap=0.5)
    assert SerialScanner("/dev/null", collector, framing=chosen).framing.inter_char_gap == 0.5
