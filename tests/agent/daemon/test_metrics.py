"""The agent's Prometheus metrics, read back the way Prometheus reads them: by parsing the exposition."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.daemon.devices import printer_state
from agent.daemon.metrics import AgentMetrics
from drivers.printer import PrinterStatus
from drivers.scanners import DeviceState
from offline_queue import Done, Outbox, Stats, create_key_file
from tests.offline_queue.helpers import FakeClock

SCANNER = "/dev/serial/by-id/usb-Honeywell_Scanner-if00"
CAMERA = "/dev/v4l/by-id/usb-Camera-video-index0"
PAYMENT_CODE = "286543210987654321"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Sources:
    """What the scrape reads, changeable by the test between scrapes."""

    def __init__(self) -> None:
        self.stats = Stats(counts={}, oldest_pending_age=None, db_bytes=0)
        self.devices: list[dict[str, Any]] = []
        self.connections = 0
        self.fail: dict[str, Exception] = {}

    def outbox_stats(self) -> Stats:
        if "outbox" in self.fail:
            raise self.fail["outbox"]
        return self.stats

    def device_list(self) -> list[dict[str, Any]]:
        if "devices" in self.fail:
            raise self.fail["devices"]
        return self.devices

    def ecr_connections(self) -> int:
        if "ecr" in self.fail:
            raise self.fail["ecr"]
        return self.connections

    def metrics(self, version: str = "dev") -> AgentMetrics:
        return AgentMetrics(outbox_stats=self.outbox_stats, devices=self.device_list,
                            ecr_connections=self.ecr_connections, version=version)  # fmt: skip


@pytest.fixture
def sources() -> Sources:
    return Sources()


def scrape(metrics: AgentMetrics) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def device(path: str, kind: str, state: str) -> dict[str, Any]:
    return {"device": path, "kind": kind, "state": state, "detail": ""}


# ---- events ----------------------------------------------------------------------------------


def test_alipay_calls_are_counted_by_method_and_outcome_and_timed_by_method(sources: Sources) -> None:
    metrics = sources.metrics()
    metrics.alipay_call("alipay.trade.pay", "success", 0.3)
    metrics.alipay_call("alipay.trade.pay", "success", 0.07)
    metrics.alipay_call("alipay.trade.pay", "unknown_outcome", 15.2)
    metrics.alipay_call("alipay.marketing.card.open", "business_failure", 1.5)

    samples = scrape(metrics)

    assert series(samples, "posagent_alipay_calls_total") == {
        frozenset({("method", "alipay.trade.pay"), ("outcome", "success")}): 2.0,
        frozenset({("method", "alipay.trade.pay"), ("outcome", "unknown_outcome")}): 1.0,
        frozenset({("method", "alipay.marketing.card.open"), ("outcome", "business_failure")}): 1.0,
    }
    pay = "alipay.trade.pay"
    assert value(samples, "posagent_alipay_call_duration_seconds_count", method=pay) == 3.0
    assert value(samples, "posagent_alipay_call_duration_seconds_sum", method=pay) == pytest.approx(15.57)
    buckets = {dict(labels)["le"]: v for labels, v in series(samples, "posagent_alipay_call_duration_seconds_bucket").items()
               if dict(labels)["method"] == pay}  # fmt: skip
    assert buckets == {"0.05": 0.0, "0.1": 1.0, "0.25": 1.0, "0.5": 2.0, "1.0": 2.0, "2.0": 2.0, "5.0": 2.0,
                       "10.0": 2.0, "15.0": 2.0, "30.0": 3.0, "+Inf": 3.0}  # fmt: skip
    assert value(samples, "posagent_alipay_call_duration_seconds_count", method="alipay.marketing.card.open") == 1.0


def test_the_recorder_fits_the_alipay_client_observer() -> None:
    from agent.alipay.client import CallObserver

    observer: CallObserver = Sources().metrics().alipay_call  # type-checked by mypy, called like the client does
    observer("alipay.trade.query", "success", 0.1)


def test_scans_are_counted_by_code_class_and_device(sources: Sources) -> None:
    metrics = sources.metrics()
    metrics.scan("alipay_payment", SCANNER)
    metrics.scan("alipay_payment", SCANNER)
    metrics.scan("member_card", CAMERA)

    samples = scrape(metrics)

    assert series(samples, "posagent_scans_total") == {
        frozenset({("class", "alipay_payment"), ("device", SCANNER)}): 2.0,
        frozenset({("class", "member_card"), ("device", CAMERA)}): 1.0,
    }
    assert PAYMENT_CODE not in metrics.render().decode()


def test_a_camera_url_s_password_never_reaches_a_label(sources: Sources) -> None:
    url = "rtsp://admin:S3cr3t-pw@192.168.1.64/stream"
    sources.devices = [device(url, "camera", "connected")]
    metrics = sources.metrics()
    metrics.scan("member_card", url)

    samples = scrape(metrics)

    assert "S3cr3t-pw" not in metrics.render().decode()
    shown = "rtsp://admin:***@192.168.1.64/stream"
    assert value(samples, "posagent_scans_total", **{"class": "member_card", "device": shown}) == 1
    assert value(samples, "posagent_device_up", device=shown, kind="camera") == 1


def test_finished_print_jobs_are_counted_by_kind_and_outcome(sources: Sources) -> None:
    metrics = sources.metrics()
    metrics.print_job("activation", "printed")
    metrics.print_job("activation", "printed")
    metrics.print_job("drawer", "failed")

    assert series(scrape(metrics), "posagent_print_jobs_total") == {
        frozenset({("kind", "activation"), ("outcome", "printed")}): 2.0,
        frozenset({("kind", "drawer"), ("outcome", "failed")}): 1.0,
    }


def test_ecr_connections_accepted_in_total_and_open_now(sources: Sources) -> None:
    metrics = sources.metrics()
    for _ in range(3):
        metrics.ecr_connection_opened()
    sources.connections = 1

    samples = scrape(metrics)

    assert value(samples, "posagent_ecr_connections_total") == 3.0
    assert value(samples, "posagent_ecr_connections_open") == 1.0


def test_long_label_values_are_cut_to_64_characters(sources: Sources) -> None:
    metrics = sources.metrics()
    long = "x" * 200
    metrics.alipay_call(long, long, 0.1)
    metrics.scan(long, SCANNER)
    metrics.print_job(long, long)

    samples = scrape(metrics)

    cut = "x" * 64
    assert value(samples, "posagent_alipay_calls_total", method=cut, outcome=cut) == 1.0
    assert value(samples, "posagent_alipay_call_duration_seconds_count", method=cut) == 1.0
    assert value(samples, "posagent_scans_total", **{"class": cut, "device": SCANNER}) == 1.0
    assert value(samples, "posagent_print_jobs_total", kind=cut, outcome=cut) == 1.0


def test_the_agent_version_is_exposed(sources: Sources) -> None:
    assert value(scrape(sources.metrics(version="1.4.2")), "posagent_agent_info", version="1.4.2") == 1.0


def test_the_content_type_is_the_prometheus_text_format() -> None:
    # render() writes the classic text format, not OpenMetrics: the header must say so.
    assert AgentMetrics.CONTENT_TYPE.startswith("text/plain;")


# ---- read at scrape time ----------------------------------------------------------------------


def test_outbox_jobs_by_kind_and_every_state_with_ages_and_database_size(sources: Sources) -> None:
    sources.stats = Stats(
        counts={"card.open": {"pending": 2, "in_flight": 1, "dead": 1}, "card.update": {"done": 7, "superseded": 3}},
        oldest_pending_age=42.5,
        db_bytes=1_048_576,
        oldest_pending_age_by_kind={"card.open": 42.5},
    )

    samples = scrape(sources.metrics())

    assert series(samples, "posagent_outbox_jobs") == {
        frozenset({("kind", "card.open"), ("state", "pending")}): 2.0,
        frozenset({("kind", "card.open"), ("state", "in_flight")}): 1.0,
        frozenset({("kind", "card.open"), ("state", "done")}): 0.0,
        frozenset({("kind", "card.open"), ("state", "dead")}): 1.0,
        frozenset({("kind", "card.open"), ("state", "superseded")}): 0.0,
        frozenset({("kind", "card.update"), ("state", "pending")}): 0.0,
        frozenset({("kind", "card.update"), ("state", "in_flight")}): 0.0,
        frozenset({("kind", "card.update"), ("state", "done")}): 7.0,
        frozenset({("kind", "card.update"), ("state", "dead")}): 0.0,
        frozenset({("kind", "card.update"), ("state", "superseded")}): 3.0,
    }
    assert series(samples, "posagent_outbox_oldest_pending_age_seconds") == {
        frozenset({("kind", "card.open")}): 42.5,
        frozenset({("kind", "card.update")}): 0.0,  # nothing waiting
    }
    assert value(samples, "posagent_outbox_database_bytes") == 1_048_576.0


def test_every_scrape_reads_the_sources_afresh(sources: Sources) -> None:
    metrics = sources.metrics()
    sources.stats = Stats(counts={"card.open": {"pending": 1}}, oldest_pending_age=1.0, db_bytes=10,
                          oldest_pending_age_by_kind={"card.open": 1.0})  # fmt: skip
    sources.connections = 2
    first = scrape(metrics)
    sources.stats = Stats(counts={"card.open": {"done": 1}}, oldest_pending_age=None, db_bytes=20)
    sources.connections = 0
    second = scrape(metrics)

    assert value(first, "posagent_outbox_jobs", kind="card.open", state="pending") == 1.0
    assert value(second, "posagent_outbox_jobs", kind="card.open", state="pending") == 0.0
    assert value(second, "posagent_outbox_oldest_pending_age_seconds", kind="card.open") == 0.0
    assert value(second, "posagent_outbox_database_bytes") == 20.0
    assert value(first, "posagent_ecr_connections_open") == 2.0
    assert value(second, "posagent_ecr_connections_open") == 0.0


@pytest.mark.parametrize("state", list(DeviceState))
@pytest.mark.parametrize("kind", ["scanner", "camera"])
def test_scanners_and_cameras_are_up_only_when_connected(sources: Sources, kind: str, state: DeviceState) -> None:
    sources.devices = [device(SCANNER, kind, state.value)]

    samples = scrape(sources.metrics())

    expected = 1.0 if state is DeviceState.CONNECTED else 0.0
    assert series(samples, "posagent_device_up") == {frozenset({("device", SCANNER), ("kind", kind)}): expected}
    assert series(samples, "posagent_device_state") == {
        frozenset({("device", SCANNER), ("kind", kind), ("state", state.value)}): 1.0
    }


READY = {"online": True, "cover_open": False, "paper_end": False, "paper_near_end": False, "error": False,
         "recoverable_error": False, "autocutter_error": False, "unrecoverable_error": False, "head_too_hot": False}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "up"),
    [
        (PrinterStatus(**READY), 1.0),
        (PrinterStatus(**{**READY, "paper_near_end": True}), 1.0),  # still prints: change the roll soon
        (PrinterStatus(**{**READY, "cover_open": True}), 0.0),
        (PrinterStatus(**{**READY, "paper_end": True}), 0.0),
        (PrinterStatus(**{**READY, "online": False}), 0.0),
        (PrinterStatus(), 0.0),  # said nothing
        (PrinterStatus(foreign_reply=True), 0.0),  # something else answers at the address
    ],
)
def test_the_printer_is_up_when_it_can_print(sources: Sources, status: PrinterStatus, up: float) -> None:
    state = printer_state(status)  # the daemon's own naming of printer states
    sources.devices = [device("printer", "printer", state)]

    samples = scrape(sources.metrics())

    assert series(samples, "posagent_device_up") == {frozenset({("device", "printer"), ("kind", "printer")}): up}
    assert value(samples, "posagent_device_state", device="printer", kind="printer", state=state) == 1.0


def test_an_unreachable_printer_is_down(sources: Sources) -> None:
    sources.devices = [device("printer", "printer", "unavailable"), device(SCANNER, "scanner", "connected")]

    samples = scrape(sources.metrics())

    assert value(samples, "posagent_device_up", device="printer", kind="printer") == 0.0
    assert value(samples, "posagent_device_up", device=SCANNER, kind="scanner") == 1.0


# ---- failures and isolation --------------------------------------------------------------------


def test_a_failing_outbox_leaves_the_rest_of_the_scrape_intact(
    sources: Sources, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = sources.metrics()
    metrics.alipay_call("alipay.trade.pay", "success", 0.2)
    sources.devices = [device(SCANNER, "scanner", "connected")]
    sources.connections = 1
    sources.fail["outbox"] = RuntimeError(f"database is locked while reading auth_code {PAYMENT_CODE}")

    with caplog.at_level(logging.WARNING, logger="agent.daemon.metrics"):
        first = scrape(metrics)
        second = scrape(metrics)

    for samples in (first, second):
        names = {name for name, _ in samples}
        assert not {n for n in names if n.startswith("posagent_outbox_")}
        assert value(samples, "posagent_alipay_calls_total", method="alipay.trade.pay", outcome="success") == 1.0
        assert value(samples, "posagent_device_up", device=SCANNER, kind="scanner") == 1.0
        assert value(samples, "posagent_ecr_connections_open") == 1.0
        assert value(samples, "posagent_metrics_collect_errors_total", source="devices") == 0.0
    assert value(first, "posagent_metrics_collect_errors_total", source="outbox") == 1.0
    assert value(second, "posagent_metrics_collect_errors_total", source="outbox") == 2.0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "outbox" in caplog.text
    assert PAYMENT_CODE not in caplog.text
    assert "database is locked" not in caplog.text


@pytest.mark.parametrize("source", ["devices", "ecr"])
def test_a_failing_device_list_or_connection_count_only_drops_its_own_metrics(sources: Sources, source: str) -> None:
    sources.stats = Stats(counts={"card.open": {"pending": 1}}, oldest_pending_age=None, db_bytes=0)
    sources.devices = [device(SCANNER, "scanner", "connected")]
    sources.fail[source] = OSError("boom")

    samples = scrape(sources.metrics())

    names = {name for name, _ in samples}
    assert ("posagent_device_up" in names) == (source != "devices")
    assert ("posagent_ecr_connections_open" in names) == (source != "ecr")
    assert value(samples, "posagent_outbox_jobs", kind="card.open", state="pending") == 1.0
    assert value(samples, "posagent_metrics_collect_errors_total", source=source) == 1.0


def test_two_instances_share_nothing(sources: Sources) -> None:
    other_sources = Sources()
    one, two = sources.metrics(), other_sources.metrics()
    one.alipay_call("alipay.trade.pay", "success", 0.2)
    one.scan("member_card", SCANNER)
    one.print_job("activation", "printed")
    one.ecr_connection_opened()
    sources.fail["outbox"] = RuntimeError("down")
    other_sources.connections = 5

    first, second = scrape(one), scrape(two)

    assert value(first, "posagent_ecr_connections_total") == 1.0
    assert value(second, "posagent_ecr_connections_total") == 0.0
    assert value(first, "posagent_ecr_connections_open") == 0.0
    assert value(second, "posagent_ecr_connections_open") == 5.0
    assert value(second, "posagent_metrics_collect_errors_total", source="outbox") == 0.0
    assert not series(second, "posagent_alipay_calls_total")
    assert not series(second, "posagent_scans_total")
    assert not series(second, "posagent_print_jobs_total")
    assert one.registry is not two.registry


# ---- with the real outbox ----------------------------------------------------------------------


def test_a_real_outbox_feeds_the_outbox_metrics(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = Outbox.open(tmp_path / "agent.db", key_file=create_key_file(tmp_path / "outbox.key"), clock=clock,
                         rng=random.Random(7))  # fmt: skip
    try:
        metrics = AgentMetrics(outbox_stats=outbox.stats, devices=lambda: [], ecr_connections=lambda: 0)
        outbox.enqueue("card.open", {"card": "1"}, idempotency_key="open-1")
        clock.advance(60)
        outbox.enqueue("card.open", {"card": "2"}, idempotency_key="open-2")
        outbox.enqueue("member.query", {"card": "3"}, idempotency_key="query-1")
        [job] = outbox.claim(1, kinds=["member.query"])
        outbox.complete(job.id, Done())
        clock.advance(30)

        samples = scrape(metrics)
        size_on_disk = sum(p.stat().st_size for p in tmp_path.glob("agent.db*") if not p.name.endswith("-shm"))
    finally:
        outbox.close()

    assert value(samples, "posagent_outbox_jobs", kind="card.open", state="pending") == 2.0
    assert value(samples, "posagent_outbox_jobs", kind="member.query", state="done") == 1.0
    assert value(samples, "posagent_outbox_jobs", kind="member.query", state="pending") == 0.0
    assert series(samples, "posagent_outbox_oldest_pending_age_seconds") == {
        frozenset({("kind", "card.open")}): 90.0,
        frozenset({("kind", "member.query")}): 0.0,
    }
    assert value(samples, "posagent_outbox_database_bytes") == size_on_disk
    assert value(samples, "posagent_metrics_collect_errors_total", source="outbox") == 0.0


# ---- the fleet link ---------------------------------------------------------------------------------


def test_fleet_figures_only_when_the_link_is_configured_and_read_at_scrape(sources: Sources) -> None:
    from agent.daemon.fleet_link.delivery import Outcome
    from agent.daemon.fleet_link.state import DROP_REASONS, LinkState

    assert not any(name.startswith("posagent_fleet") for name, _ in scrape(sources.metrics()))
    state = LinkState(broker="mqtts://hq:8883", client_id="c", topic="posagent/acme/S1/T1/callback")
    metrics = AgentMetrics(outbox_stats=sources.outbox_stats, devices=sources.device_list,
                           ecr_connections=sources.ecr_connections, fleet=lambda: state)  # fmt: skip
    first = scrape(metrics)
    assert value(first, "posagent_fleet_connected") == 0.0  # still connecting
    assert series(first, "posagent_fleet_messages_dropped_total") == {
        frozenset({("reason", r)}): 0.0 for r in DROP_REASONS}  # every reason, zeros included: alerts have a series
    state.connected(1.0, session_present=False)
    state.subscription(True, "Granted QoS 1")
    state.received = 4
    state.delivered(Outcome.QUEUED, 2.0, acked=True)
    state.delivered(Outcome.DUPLICATE, 3.0, acked=True)
    state.drop("unopened", acked=True)
    state.retrying = 1
    later = scrape(metrics)
    assert value(later, "posagent_fleet_connected") == 1.0
    assert value(later, "posagent_fleet_messages_received_total") == 4.0
    assert value(later, "posagent_fleet_messages_acked_total") == 3.0
    assert value(later, "posagent_fleet_messages_settled_total", outcome="duplicate") == 1.0
    assert value(later, "posagent_fleet_messages_dropped_total", reason="unopened") == 1.0
    assert value(later, "posagent_fleet_messages_retrying") == 1.0
