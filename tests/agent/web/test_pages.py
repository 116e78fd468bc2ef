"""Rendering a Snapshot as HTML: every value escaped, the buttons carry what the site checks, the tables add up."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from agent.web import pages
from agent.web.snapshot import DeadJob, DeviceRow, FleetRow, LogRow, OriginRow, PrintRow, ScanRow, Snapshot
from tests.agent.web.samples import NOW, snapshot

XSS = '"><script>alert(1)</script>'
CSRF = "csrf-value-123"


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[str] = field(default_factory=list)


class Parsed(HTMLParser):
    """Forms (action, hidden fields, button labels), tables as rows of cell texts, and all text."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._in_button = False
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(values.get("action", "")))
        elif tag == "input" and self.forms and values.get("type") == "hidden":
            self.forms[-1].fields[values.get("name", "")] = values.get("value", "")
        elif tag == "button":
            self._in_button = True
            if self.forms:
                self.forms[-1].buttons.append("")
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "button":
            self._in_button = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._in_button and self.forms:
            self.forms[-1].buttons[-1] += data.strip()

    def table_after(self, header: list[str]) -> list[dict[str, str]]:
        """The rows of the table whose first row starts with `header`, as header -> cell."""
        [table] = [t for t in self.tables if t and t[0][: len(header)] == header]
        return [dict(zip(table[0], row, strict=True)) for row in table[1:]]


def hostile_snapshot() -> Snapshot:
    return snapshot(
        store=f"store {XSS}",
        version=f"v{XSS}",
        gateway=f"https://gw/{XSS}",
        devices=[DeviceRow(f"dev{XSS}", f"kind{XSS}", f"state{XSS}", f"detail {XSS}")],
        outbox_counts={f"kind{XSS}": {"pending": 1}},
        dead_jobs=[DeadJob(5, f"job kind {XSS}", 3, f"last error {XSS}", NOW)],
        scans=[ScanRow(NOW, f"class{XSS}", f"masked{XSS}", f"scanner {XSS}")],
        prints=[PrintRow(f"p{XSS}", f"print kind {XSS}", f"st{XSS}", f"reason {XSS}", True)],
        errors=[LogRow(NOW, f"LEVEL{XSS}", f"logger{XSS}", f"log message {XSS}")],
    )


def test_every_value_on_the_page_is_escaped() -> None:
    document = pages.status_page(hostile_snapshot(), csrf=f"c{XSS}", version=3, notice=f"notice {XSS}")

    assert "<script>alert(1)" not in document
    assert XSS not in document
    text = "".join(Parsed(document).text)
    for value in ("store", "detail", "last error", "log message", "scanner", "reason", "notice", "job kind"):
        assert f"{value} {XSS}" in text  # shown, as text


@pytest.mark.parametrize(
    "changes",
    [{"devices": [DeviceRow("printer", "printer", "ready", XSS)]},
     {"dead_jobs": [DeadJob(5, "card.open", 3, XSS, NOW)]},
     {"errors": [LogRow(NOW, "ERROR", "agent", XSS)]},
     {"scans": [ScanRow(NOW, "payment_code", "28**", XSS)]},
     {"store": XSS},
     {"outbox_error": XSS}],
    ids=["device detail", "dead job error", "log message", "scan device", "store name", "outbox error"],
)  # fmt: skip
def test_each_user_facing_string_is_escaped_on_its_own(changes: dict[str, object]) -> None:
    document = pages.status_page(snapshot(**changes), csrf=CSRF, version=1)

    assert XSS not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document


def test_the_other_pages_escape_too() -> None:
    for document in (pages.login_page(f"error {XSS}"), pages.message_page(f"title {XSS}", f"text {XSS}"),
                     pages.slip_page(f"job {XSS}", "<div>slip</div>")):  # fmt: skip
        assert XSS not in document
        assert "&lt;script&gt;" in document


def test_the_slip_preview_is_inserted_as_markup() -> None:
    slip = '<div class="slip"><p class="title">Hello</p></div>'

    assert slip in pages.status_page(snapshot(), csrf=CSRF, version=1, slip_html=slip)
    assert slip in pages.slip_page("p-1", slip)


def test_the_retry_form_carries_the_job_id_and_the_csrf() -> None:
    state = snapshot(dead_jobs=[DeadJob(17, "card.open", 8, "boom", NOW), DeadJob(23, "trade.pay", 2, "x", NOW)])

    forms = [f for f in Parsed(pages.panel(state, csrf=CSRF)).forms if "Retry" in f.buttons]

    assert [f.fields for f in forms] == [{"csrf": CSRF, "job_id": "17"}, {"csrf": CSRF, "job_id": "23"}]
    assert all(f.action.endswith("outbox/retry") for f in forms)


def test_no_retry_form_without_dead_jobs() -> None:
    forms = Parsed(pages.panel(snapshot(dead_jobs=[]), csrf=CSRF)).forms

    assert not any("Retry" in f.buttons for f in forms)


def test_the_test_print_button_needs_a_printer() -> None:
    with_printer = Parsed(pages.panel(snapshot(printer_configured=True), csrf=CSRF)).forms
    without = Parsed(pages.panel(snapshot(printer_configured=False), csrf=CSRF)).forms

    [test_print] = [f for f in with_printer if "Test print" in f.buttons]
    assert test_print.action.endswith("print/test") and test_print.fields == {"csrf": CSRF}
    assert not any("Test print" in f.buttons for f in without)


def test_the_page_has_a_logout_form_with_csrf() -> None:
    forms = Parsed(pages.status_page(snapshot(), csrf=CSRF, version=1)).forms

    [logout] = [f for f in forms if f.action.endswith("logout")]
    assert logout.fields == {"csrf": CSRF}


def test_the_page_carries_its_version_for_the_live_script() -> None:
    document = pages.status_page(snapshot(), csrf=CSRF, version=42)

    assert 'data-version="42"' in document
    assert 'src="live.js"' in document


def test_the_outbox_table_counts_per_kind_and_state() -> None:
    state = snapshot(outbox_counts={"trade.pay": {"done": 41, "in_flight": 2}, "card.open": {"pending": 3, "dead": 1}})

    rows = Parsed(pages.panel(state, csrf=CSRF)).table_after(["Kind", "pending"])

    assert rows == [
        {"Kind": "card.open", "pending": "3", "in flight": "0", "done": "0", "dead": "1", "superseded": "0"},
        {"Kind": "trade.pay", "pending": "0", "in flight": "2", "done": "41", "dead": "0", "superseded": "0"},
    ]


def test_an_empty_outbox_says_so() -> None:
    text = "".join(Parsed(pages.panel(snapshot(outbox_counts={}, oldest_pending_age=None), csrf=CSRF)).text)

    assert "No jobs yet." in text and "nothing waiting" in text


def test_the_oldest_waiting_job_is_shown_instead_of_nothing_waiting() -> None:
    text = "".join(Parsed(pages.panel(snapshot(oldest_pending_age=95.0), csrf=CSRF)).text)

    assert "oldest waiting job: 95 s" in text and "nothing waiting" not in text


def test_an_unreadable_outbox_shows_the_error_instead_of_counts() -> None:
    document = pages.panel(snapshot(outbox_error="database is locked"), csrf=CSRF)

    assert "database is locked" in document
    assert not any(table[0][:2] == ["Kind", "pending"] for table in Parsed(document).tables if table)


def test_devices_are_listed_with_their_state() -> None:
    rows = Parsed(pages.panel(snapshot(), csrf=CSRF)).table_after(["Kind", "Device"])

    assert [(r["Device"], r["State"], r["Detail"]) for r in rows] == [
        ("printer-front", "ready", "tcp://192.168.1.50:9100"),
        ("scanner-1", "disconnected", "no answer on /dev/ttyUSB0"),
    ]


def test_a_printer_address_that_is_not_an_escpos_printer_is_named_so() -> None:
    row = DeviceRow("printer", "printer", "not_escpos", "not an ESC/POS printer at this address")
    rows = Parsed(pages.panel(snapshot(devices=[row]), csrf=CSRF)).table_after(["Kind", "Device"])

    assert [r["State"] for r in rows] == ["not an ESC/POS printer"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59.9, "59 s"), (119, "119 s"), (120, "2 min"), (7199, "119 min"), (7200, "2 h 0 min"),
     (3 * 3600 + 25 * 60 + 59, "3 h 25 min"), (172799, "47 h 59 min"), (172800, "2 days"), (30 * 86400 + 5, "30 days")],
)  # fmt: skip
def test_duration(seconds: float, text: str) -> None:
    assert pages.duration(seconds) == text


def test_the_fleet_link_is_shown_when_configured_with_why_it_is_not_connected() -> None:
    assert 'id="fleet"' not in pages.status_page(snapshot(), csrf=CSRF, version=1)  # no [fleet]: no row
    up = FleetRow("connected", NOW - 60, "mqtts://broker.example.com:8883", True, NOW - 5, "", 12, 1, 0)
    text = "".join(Parsed(pages.status_page(snapshot(fleet=up), csrf=CSRF, version=1)).text)
    assert "Fleet link" in text and "connected" in text and "mqtts://broker.example.com:8883" in text
    assert "12 received, 1 dropped" in text
    down = FleetRow("disconnected", NOW, f"wss://hq{XSS}", False, None, f"refused {XSS}", 0, 0, 2)
    document = pages.status_page(snapshot(fleet=down), csrf=CSRF, version=1)
    assert XSS not in document
    text = "".join(Parsed(document).text)
    assert f"refused {XSS}" in text and "no callback yet" in text and "2 waiting for the outbox" in text


def test_paired_web_pos_origins_are_listed_with_their_last_use_and_open_pages() -> None:
    assert 'id="origins"' not in pages.status_page(snapshot(), csrf=CSRF, version=1)  # WebSocket off: no section
    none = "".join(Parsed(pages.status_page(snapshot(origins=[]), csrf=CSRF, version=1)).text)
    assert "No web POS origin is paired" in none and "posagent ecr pair --origin" in none
    rows = [OriginRow("https://pos.example.com", NOW - 3600, NOW - 60, 2),
            OriginRow(f"https://x{XSS}", 0.0, None, 0, pending_code=True)]  # fmt: skip
    document = pages.status_page(snapshot(origins=rows), csrf=CSRF, version=1)
    assert XSS not in document
    table = next(t for t in Parsed(document).tables if t and t[0][:1] == ["Origin"])
    assert table[1][0] == "https://pos.example.com" and table[1][2] != "never" and table[1][3] == "2"
    assert table[2][0] == f"https://x{XSS}" and "pending" in table[2][1] and table[2][2] == "never"
