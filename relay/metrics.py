"""The relay's /metrics (its own registry: nothing global): what this instance did with callbacks, and the
chain's figures from the tills' retained statuses, read at scrape time.

Callbacks (counted per instance; Prometheus sums the instances):
    posagent_relay_callbacks_received_total                 GETs on the callback path
    posagent_relay_callbacks_published_total                acknowledged by the broker (the customer saw "thanks")
    posagent_relay_callbacks_refused_total{reason}          failed a check (relay.checks.REASONS)
    posagent_relay_callbacks_shed_total                     over a rate limit (429)
    posagent_relay_callbacks_failed_total{reason}           could not be delivered now (503/409): broker_down,
                                                            no_puback, no_subscriber, refused, code_spent,
                                                            exchange_unreachable, exchange_config
    posagent_relay_publish_duration_seconds                 publish -> PUBACK
    posagent_relay_broker_connected                         1 while connected
Fleet (this instance's view of the retained statuses; every instance shows the same):
    posagent_fleet_tills{state}                             online, offline, never_seen
    posagent_fleet_stores / posagent_fleet_stores_online    stores with a till online
    posagent_fleet_store_outbox_pending{store} / _dead{store}
    posagent_fleet_store_tills_offline{store}
    posagent_fleet_tills_device_problem                     tills with a device not working
    posagent_fleet_status_rejected_total                    statuses dropped as malformed or foreign
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .checks import REASONS
from .fleet_view import FleetView

FAILURES = ("broker_down", "no_puback", "no_subscriber", "refused", "code_spent", "exchange_unreachable",
            "exchange_config")  # fmt: skip
# From a PUBACK on the same LAN (milliseconds) to the publish timeout (seconds).
PUBLISH_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RelayMetrics:
    CONTENT_TYPE: ClassVar[str] = CONTENT_TYPE_LATEST

    def __init__(self, fleet: FleetView, *, connected: Callable[[], bool],
                 provisioned: Callable[[], list[str]] = list) -> None:  # fmt: skip
        self.registry = CollectorRegistry()
        reg = self.registry
        self.received = Counter("posagent_relay_callbacks_received", "Open-card callbacks received (GET on the "
                                "callback path).", registry=reg)  # fmt: skip
        self.published = Counter("posagent_relay_callbacks_published", "Callbacks the broker acknowledged "
                                 "(the customer was told the card is being opened).", registry=reg)  # fmt: skip
        self.refused = Counter("posagent_relay_callbacks_refused", "Callbacks refused by a check, by reason.",
                               ["reason"], registry=reg)  # fmt: skip
        self.shed = Counter("posagent_relay_callbacks_shed", "Callbacks over a rate limit (429).", registry=reg)
        self.failed = Counter("posagent_relay_callbacks_failed", "Callbacks that could not be delivered now, by "
                              "reason (the customer was asked to try again).", ["reason"], registry=reg)  # fmt: skip
        self.publish_seconds = Histogram("posagent_relay_publish_duration_seconds", "From publishing a callback to "
                                         "the broker's PUBACK.", buckets=PUBLISH_BUCKETS, registry=reg)  # fmt: skip
        for reason in REASONS:  # every series exists from the start: rate() works on the first refusal
            self.refused.labels(reason)
        for reason in FAILURES:
            self.failed.labels(reason)
        reg.register(_FleetCollector(fleet, connected, provisioned))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _FleetCollector(Collector):
    def __init__(self, fleet: FleetView, connected: Callable[[], bool], provisioned: Callable[[], list[str]]) -> None:
        self.fleet = fleet
        self.connected = connected
        self.provisioned = provisioned

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("posagent_relay_broker_connected", "1 while this relay instance is connected to "
                                "the broker.", value=1 if self.connected() else 0)  # fmt: skip
        summary = self.fleet.summary(self.provisioned())
        tills = GaugeMetricFamily("posagent_fleet_tills", "Tills of the chain by state (never_seen: a key at "
                                  "headquarters, no status yet).", labels=["state"])  # fmt: skip
        tills.add_metric(["online"], summary.online)
        tills.add_metric(["offline"], summary.offline)
        tills.add_metric(["never_seen"], summary.never_seen)
        yield tills
        yield GaugeMetricFamily("posagent_fleet_stores", "Stores of the chain.", value=len(summary.stores))
        yield GaugeMetricFamily("posagent_fleet_stores_online", "Stores with at least one till online.",
                                value=summary.stores_online)  # fmt: skip
        pending = GaugeMetricFamily("posagent_fleet_store_outbox_pending", "Jobs waiting in the tills' outboxes, "
                                    "per store (as last reported).", labels=["store"])  # fmt: skip
        dead = GaugeMetricFamily("posagent_fleet_store_outbox_dead", "Jobs that gave up in the tills' outboxes, "
                                 "per store (as last reported).", labels=["store"])  # fmt: skip
        offline = GaugeMetricFamily("posagent_fleet_store_tills_offline", "Tills of the store not online (offline "
                                    "or never seen).", labels=["store"])  # fmt: skip
        for store, figures in sorted(summary.stores.items()):
            pending.add_metric([store], figures.pending)
            dead.add_metric([store], figures.dead)
            offline.add_metric([store], figures.tills - figures.online)
        yield pending
        yield dead
        yield offline
        yield GaugeMetricFamily("posagent_fleet_tills_device_problem", "Tills with a printer, scanner or camera "
                                "not working.", value=summary.device_problems)  # fmt: skip
        yield CounterMetricFamily("posagent_fleet_status_rejected", "Status messages dropped as malformed or "
                                  "foreign.", value=self.fleet.rejected)  # fmt: skip
