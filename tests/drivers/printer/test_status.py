"""DLE EOT 1-4 decoding: the printer's bits, unsolicited bytes dropped, no reply = unknown."""

from __future__ import annotations

import pytest

from drivers.printer.errors import CoverOpen, PaperOut, PrinterFault, PrinterOffline, StatusUnknown
from drivers.printer.printer import not_ready_error
from drivers.printer.status import (
    QUERIES,
    ForeignReply,
    PrinterStatus,
    Problem,
    decode_status,
    reply_byte,
    status_request,
)

IDLE = {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}


def test_requests_are_dle_eot_n() -> None:
    assert [status_request(n) for n in (1, 2, 3, 4)] == [b"\x10\x04\x01", b"\x10\x04\x02", b"\x10\x04\x03",
                                                          b"\x10\x04\x04"]  # fmt: skip
    with pytest.raises(ValueError, match="1-4"):
        status_request(5)


def test_an_idle_printer_is_ready() -> None:
    status = decode_status(IDLE)
    assert status.ready and status.known and status.online
    assert status.summary() == "ready"


def test_drawer_pin_high_is_not_a_problem() -> None:
    status = decode_status({**IDLE, 1: 0x16})
    assert status.drawer_high and status.ready


@pytest.mark.parametrize(
    ("replies", "problem", "error"),
    [
        ({1: 0x1A, 2: 0x16}, Problem.COVER_OPEN, CoverOpen),
        ({1: 0x1A, 2: 0x32, 4: 0x7E}, Problem.PAPER_END, PaperOut),  # what the simulator and Epson send
        ({1: 0x1A, 4: 0x72}, Problem.PAPER_END, PaperOut),  # reference: 0x60 bits = paper end
        ({1: 0x1A, 2: 0x52, 3: 0x1A}, Problem.ERROR, PrinterFault),  # autocutter error
        ({1: 0x1A}, Problem.OFFLINE, PrinterOffline),  # offline switch, causes all clear
    ],
)
def test_faults_map_to_the_most_specific_problem_and_error(
    replies: dict[int, int], problem: Problem, error: type[Exception]
) -> None:
    status = decode_status({**IDLE, **replies})
    assert status.problem is problem
    assert not status.ready
    assert isinstance(not_ready_error(status), error)


def test_paper_near_end_still_prints_but_says_so() -> None:
    status = decode_status({**IDLE, 4: 0x1E})
    assert status.paper_near_end and status.ready
    assert status.summary() == "ready (paper near end)"


def test_error_cause_bits() -> None:
    status = decode_status({**IDLE, 1: 0x1A, 2: 0x52, 3: 0x12 | 0x04 | 0x40})
    assert status.recoverable_error and status.head_too_hot and not status.autocutter_error
    assert status.error


@pytest.mark.parametrize("replies", [{}, {1: None}, {1: 0x12, 2: 0x12, 3: None}, {1: 0x12}])
def test_no_reply_is_unknown_never_fine(replies: dict[int, int | None]) -> None:
    status = decode_status(replies)
    assert not status.known
    assert status.problem is Problem.UNKNOWN and not status.ready
    assert isinstance(not_ready_error(status), StatusUnknown)
    assert PrinterStatus().problem is Problem.UNKNOWN


def test_a_known_fault_wins_over_unanswered_queries() -> None:
    assert decode_status({1: 0x12, 2: 0x16}).problem is Problem.COVER_OPEN


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x12", 0x12),
        (b"\x10\x00\x0c\x00\x1a", 0x1A),  # an automatic status-back block, then the reply
        (b"\x10\x00\x00\x00", None),  # an automatic status-back block alone
        (b"", None),
        (b"\x12\x1a", 0x1A),  # a late reply to an earlier query, then this one: the newest
        (b"\x10\x00", None),  # the start of a status-back block: the reply may still come
        (b"\x1a\x10\x00", 0x1A),  # the reply, then part of a status-back block
    ],
)
def test_reply_byte_drops_unsolicited_bytes(data: bytes, expected: int | None) -> None:
    assert reply_byte(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",  # a web server at the printer's address
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"\x00",  # bit 1 must be 1
        b"\x13",  # bit 0 must be 0
        b"\x02",  # bit 4 must be 1
        b"\x92",  # bit 7 must be 0
        b"\xff",  # a telnet IAC, line noise
        b"\x0c\x03",  # GS r replies (pattern 0xx0xxxx) never answer DLE EOT
        b"\x12OK\r\n",  # a status-shaped byte followed by text: the text gives it away
        b"\x10\x00\x8c\x00\x12",  # a "status-back block" with bit 7 set in byte 3
    ],
)
def test_bytes_no_escpos_printer_sends_are_a_foreign_reply(data: bytes) -> None:
    with pytest.raises(ForeignReply, match="not an ESC/POS reply"):
        reply_byte(data)


def test_the_foreign_reply_message_does_not_repeat_what_came_back() -> None:
    with pytest.raises(ForeignReply) as caught:
        reply_byte(b"HTTP/1.1 400 Bad Request\r\n")
    assert "HTTP" not in str(caught.value) and "400" not in str(caught.value)


@pytest.mark.parametrize("n", QUERIES)
def test_every_dle_eot_query_checks_the_same_fixed_bits(n: int) -> None:
    ok = [v for v in range(256) if v & 0x93 == 0x12]
    assert len(ok) == 16 and all(reply_byte(bytes([v])) == v for v in ok)
    assert decode_status({**IDLE, n: None}).problem is Problem.UNKNOWN


def test_a_foreign_reply_is_its_own_problem_and_says_what_to_suspect() -> None:
    status = PrinterStatus(foreign_reply=True)
    assert status.problem is Problem.NOT_ESCPOS and not status.ready
    assert status.summary() == "not an ESC/POS printer at this address"
    assert status.to_json()["problem"] == "not_escpos"


def test_status_serialises_with_its_verdict() -> None:
    data = decode_status({**IDLE, 2: 0x16}).to_json()
    assert data["problem"] == "cover_open" and data["ready"] is False and data["cover_open"] is True
