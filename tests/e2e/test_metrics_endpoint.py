"""/metrics on the running daemon, scraped as Prometheus would and parsed with prometheus-client's
own parser: the figures follow what happened at the till."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hardware_sim.gateway.payment_codes import Behaviour, example
from tests.support.daemon import TOKEN, Store


def scrape(port: int, **headers: str) -> dict[str, list[Sample]]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=10)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(families: dict[str, list[Sample]], sample_name: str, **labels: str) -> float:
    family = families[sample_name.removesuffix("_total").removesuffix("_count").removesuffix("_sum")]
    found = [s.value for s in family if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (sample_name, labels, family)
    return found[0]


def wait_metric(port: int, sample_name: str, wanted: float, **labels: str) -> dict[str, list[Sample]]:
    deadline = time.monotonic() + 20
    while True:
        families = scrape(port)
        try:
            if value(families, sample_name, **labels) == wanted:
                return families
        except (KeyError, AssertionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{sample_name}{labels} never reached {wanted}")
        time.sleep(0.2)


def test_scrape_follows_scans_prints_calls_devices_and_connections(store: Store) -> None:
    port = store.daemon.status_port
    assert port is not None
    with store.daemon.ecr() as ecr:
        wait_metric(port, "posagent_device_up", 1, device="printer", kind="printer")
        store.scanner.scan(example(Behaviour.PAID))
        store.scanner.scan("LOTUS0001234")
        ecr.request("print.text", {"job_id": "M-1", "lines": ["hello"]})
        ecr.wait_for("print.updated", lambda b: b["job"]["job_id"] == "M-1" and b["job"]["state"] == "printed",
                     timeout=20)  # fmt: skip
        sale = ecr.request("sale.start", {"sale_id": "M-S1", "amount": "1.00", "subject": "metrics",
                                          "code": example(Behaviour.PAID)})  # fmt: skip
        ecr.wait_for("sale.updated", lambda b: b["sale"]["sale_id"] == "M-S1" and b["sale"]["state"] == "succeeded",
                     timeout=20)  # fmt: skip
        assert sale
        families = wait_metric(port, "posagent_print_jobs_total", 1, kind="text", outcome="printed")
        scanner = store.scanner.path
        assert value(families, "posagent_scans_total", **{"class": "alipay_payment", "device": scanner}) == 1
        assert value(families, "posagent_scans_total", **{"class": "member_card", "device": scanner}) == 1
        assert value(families, "posagent_ecr_connections_open") == 1
        assert value(families, "posagent_ecr_connections_total") >= 1
        assert value(families, "posagent_device_up", device=scanner, kind="scanner") == 1
        assert value(families, "posagent_alipay_calls_total", method="alipay.trade.pay", outcome="success") == 1
        assert value(families, "posagent_alipay_call_duration_seconds_count", method="alipay.trade.pay") == 1

        store.printer.set_state(paper="end")
        families = wait_metric(port, "posagent_device_up", 0, device="printer", kind="printer")
        assert value(families, "posagent_device_state", device="printer", kind="printer", state="paper_end") == 1
    families = wait_metric(port, "posagent_ecr_connections_open", 0)


def test_metrics_carry_no_secret_and_need_the_token_off_box_only(store: Store) -> None:
    port = store.daemon.status_port
    assert port is not None
    code = example(Behaviour.PAID)
    store.scanner.scan(code)
    wait_metric(port, "posagent_scans_total", 1, **{"class": "alipay_payment"})
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert code not in body and TOKEN not in body
    # From loopback the scrape needs no token; a bearer token is accepted as well (for off-box scrapers).
    assert scrape(port, Authorization=f"Bearer {TOKEN}")


def test_a_rebound_host_name_cannot_read_metrics(store: Store) -> None:
    """DNS rebinding: a page at evil.example pointed its name at 127.0.0.1; the browser sends its Host."""
    port = store.daemon.status_port
    assert port is not None

    rebound = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Host": f"evil.example:{port}"}, timeout=10)
    named = httpx.get(f"http://localhost:{port}/metrics", timeout=10)

    assert rebound.status_code == 421 and "posagent_" not in rebound.text
    assert named.status_code == 200 and "posagent_" in named.text
