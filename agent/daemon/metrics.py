"""Prometheus metrics for technicians: what the agent did (events) and what state it is in (read at scrape).

    metrics = AgentMetrics(outbox_stats=outbox.stats, devices=devices.statuses, ecr_connections=lambda: n)
    client = AlipayClient(..., observer=metrics.alipay_call)
    body, content_type = metrics.render(), AgentMetrics.CONTENT_TYPE

Events (Alipay calls, scans, print jobs, ECR connections) are counted as they happen. The outbox,
devices and open ECR connections are read only when scraped, so they are never stale and cost
nothing between scrapes. Each instance has its own registry: nothing global, nothing shared.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from drivers.addresses import display_address
from offline_queue import State, Stats

from .devices import is_working
from .fleet_link.state import DROP_REASONS, LinkPhase, LinkState

log = logging.getLogger(__name__)

# Alipay's read timeout is 15 s; the last buckets catch calls that waited for it (or for retries).
ALIPAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0)
MAX_LABEL_LENGTH = 64


def _label(value: str) -> str:
    """Caps a label value from code paths outside our control, so a bad value cannot bloat every scrape."""
    return value[:MAX_LABEL_LENGTH]


def _device_label(device: str) -> str:
    """A device's name as a label: a camera stream URL's password never reaches a scrape."""
    return display_address(device)


class AgentMetrics:
    CONTENT_TYPE: ClassVar[str] = CONTENT_TYPE_LATEST

    def __init__(
        self,
        *,
        outbox_stats: Callable[[], Stats],
        devices: Callable[[], list[dict[str, Any]]],
        ecr_connections: Callable[[], int],
        version: str = "dev",
        fleet: Callable[[], LinkState] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        Info("posagent_agent", "The running agent's version (value always 1).", registry=reg).info({"version": version})
        self._alipay_calls = Counter(
            "posagent_alipay_calls",
            "Alipay OpenAPI calls by method and outcome "
            "(success, business_failure, retryable, unreachable, unknown_outcome, ...).",
            ["method", "outcome"],
            registry=reg,
        )
        self._alipay_seconds = Histogram(
            "posagent_alipay_call_duration_seconds",
            "How long Alipay OpenAPI calls took, from signing the request to checking the reply, by method.",
            ["method"],
            buckets=ALIPAY_BUCKETS,
            registry=reg,
        )
        self._scans = Counter(
            "posagent_scans",
            "Codes read by scanners and the camera, by code class (alipay_payment, member_card, ...) and device.",
            ["class", "device"],
            registry=reg,
        )
        self._print_jobs = Counter(
            "posagent_print_jobs",
            "Finished receipt-printer jobs by kind and how they ended (printed or failed).",
            ["kind", "outcome"],
            registry=reg,
        )
        self._ecr_accepted = Counter(
            "posagent_ecr_connections",
            "Connections from the cash register software accepted since the agent started.",
            registry=reg,
        )
        reg.register(_ScrapeCollector(outbox_stats, devices, ecr_connections, fleet))

    # ---- events ------------------------------------------------------------------------------

    def alipay_call(self, method: str, outcome: str, seconds: float) -> None:
        """An `AlipayClient` observer: one finished call."""
        self._alipay_calls.labels(_label(method), _label(outcome)).inc()
        self._alipay_seconds.labels(_label(method)).observe(seconds)

    def scan(self, code_class: str, device: str) -> None:
        self._scans.labels(_label(code_class), _device_label(device)).inc()

    def print_job(self, kind: str, outcome: str) -> None:
        """A print job reached its final state ("printed" or "failed")."""
        self._print_jobs.labels(_label(kind), _label(outcome)).inc()

    def ecr_connection_opened(self) -> None:
        self._ecr_accepted.inc()

    # ---- exposition --------------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric, read fresh."""
        return generate_latest(self.registry)


class _ScrapeCollector(Collector):
    """Reads the outbox, devices and ECR connections at scrape time.

    A source that fails is left out of that scrape (and counted), so one broken source never
    hides the others, nor the event counters.
    """

    def __init__(
        self,
        outbox_stats: Callable[[], Stats],
        devices: Callable[[], list[dict[str, Any]]],
        ecr_connections: Callable[[], int],
        fleet: Callable[[], LinkState] | None = None,
    ) -> None:
        self._sources: dict[str, Callable[[], list[Metric]]] = {
            "outbox": lambda: _outbox_families(outbox_stats()),
            "devices": lambda: _device_families(devices()),
            "ecr": lambda: _ecr_families(ecr_connections()),
        }
        if fleet is not None:  # only when [fleet] is configured
            self._sources["fleet"] = lambda: _fleet_families(fleet())
        self._errors = dict.fromkeys(self._sources, 0)
        self._lock = threading.Lock()  # scrapes may come from several HTTP threads at once

    def collect(self) -> Iterator[Metric]:
        for source, read in self._sources.items():
            try:
                families = read()  # built in full before yielding: a failure never leaves half a family
            except Exception as exc:
                with self._lock:
                    self._errors[source] += 1
                # The type only: a message could quote a database path's contents or a device's reply.
                log.warning("metrics: reading %s failed (%s); left out of this scrape", source, type(exc).__name__)
                continue
            yield from families
        errors = CounterMetricFamily(
            "posagent_metrics_collect_errors",
            "Scrapes in which a source (outbox, devices, ecr, fleet) could not be read and was left out; see the "
            "agent's log.",
            labels=["source"],
        )
        with self._lock:
            for source, count in self._errors.items():
                errors.add_metric([source], count)
        yield errors


def _gauge(name: str, documentation: str, labels: list[str], samples: Iterable[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _outbox_families(stats: Stats) -> list[Metric]:
    # Every state of every kind seen, zeros included, so "dead > 0" alerts have a series to watch.
    jobs = [([kind, state.value], float(per_state.get(state.value, 0)))
            for kind, per_state in sorted(stats.counts.items()) for state in State]  # fmt: skip
    # A kind with nothing waiting reports 0 rather than vanishing, so an age alert clears.
    ages = [([kind], stats.oldest_pending_age_by_kind.get(kind, 0.0))
            for kind in sorted(set(stats.counts) | set(stats.oldest_pending_age_by_kind))]  # fmt: skip
    return [
        _gauge("posagent_outbox_jobs",
               "Jobs in the durable outbox by kind and state (pending and in_flight are not yet sent to Alipay; "
               "dead ones gave up and need a technician: posagent queue list --state dead).",
               ["kind", "state"], jobs),
        _gauge("posagent_outbox_oldest_pending_age_seconds",
               "Seconds the oldest not-yet-sent job of each kind has waited (0 when none waits). "
               "Growing steadily means Alipay cannot be reached or keeps refusing.",
               ["kind"], ages),
        _gauge("posagent_outbox_database_bytes", "Size of the outbox database on disk (with its write-ahead log).",
               [], [([], float(stats.db_bytes))]),
    ]  # fmt: skip


def _device_families(devices: list[dict[str, Any]]) -> list[Metric]:
    up = []
    state = []
    for entry in devices:
        device, kind, current = _device_label(str(entry["device"])), str(entry["kind"]), str(entry["state"])
        working = is_working(kind, current)
        up.append(([device, kind], 1.0 if working else 0.0))
        state.append(([device, kind, current], 1.0))
    return [
        _gauge("posagent_device_up",
               "1 when the scanner, camera or printer works (connected; printer ready or paper near end), else 0.",
               ["device", "kind"], up),
        _gauge("posagent_device_state",
               "The device's current state (value always 1), e.g. connected, reconnecting, error, cover_open, "
               "paper_end, offline, unavailable.",
               ["device", "kind", "state"], state),
    ]  # fmt: skip


def _ecr_families(open_connections: int) -> list[Metric]:
    return [
        _gauge("posagent_ecr_connections_open", "Connections from the cash register software open now.",
               [], [([], float(open_connections))]),
    ]  # fmt: skip


def _counter(name: str, documentation: str, labels: list[str], samples: Iterable[tuple[list[str], float]]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _fleet_families(state: LinkState) -> list[Metric]:
    outcomes = [([outcome], float(state.outcomes.get(outcome, 0))) for outcome in ("queued", "duplicate", "dropped")]
    dropped = [([reason], float(state.dropped.get(reason, 0))) for reason in DROP_REASONS]
    return [
        _gauge("posagent_fleet_connected",
               "1 when the fleet link is connected to the chain's broker with its callback topic subscribed, else 0.",
               [], [([], 1.0 if state.phase is LinkPhase.CONNECTED and state.subscribed else 0.0)]),
        _counter("posagent_fleet_messages_received", "Messages the broker delivered on this till's callback topic "
                 "(redeliveries included).", [], [([], float(state.received))]),
        _counter("posagent_fleet_messages_acked", "Messages acknowledged to the broker (after the card opening was "
                 "committed to the outbox, or after a definite refusal).", [], [([], float(state.acked))]),
        _counter("posagent_fleet_messages_settled", "Messages settled by outcome: queued (a card opening), duplicate "
                 "(already queued: a redelivery), dropped (never queued).", ["outcome"], outcomes),
        _counter("posagent_fleet_messages_dropped", "Messages dropped by reason: oversized, unsealed, unopened (not "
                 "sealed for this till: forged, or sent to another), malformed, foreign_topic, refused (by the member "
                 "service: see the log), failed (an unexpected error, repeatedly).", ["reason"], dropped),
        _gauge("posagent_fleet_messages_retrying", "Callbacks received but not yet in the outbox (outbox full, disk "
               "full, database locked): kept unacknowledged and retried.", [], [([], float(state.retrying))]),
    ]  # fmt: skip
