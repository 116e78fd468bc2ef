"""A chain of two stores on this machine, built from the public commands as headquarters and the technicians
would build it, and a customer of store B whose card opens at store B's till (and nowhere else).

    headquarters  posagent fleet broker-config --make-ca, posagent fleet provision (relay, viewer, tills)
    broker        mosquitto, started with broker-config's snippet (Eclipse Mosquitto, Debian's package)
    relay         posagent relay run (the chain's one callback address)
    gateway       posagent-sim gateway, with the app's card template (shared by every store)
    store A       SH01, till T1: printer, serial scanner, posagent run with [fleet] (MQTT over TLS)
    store B       BJ07, till T1: the same, over MQTT over WebSockets (a store whose firewall lets only HTTPS out)

Used by `./run demo --chain` (demo/chain_demo.py) and by its end-to-end test.
"""

from __future__ import annotations

import contextlib
import getpass
import html
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.store import (
    APP_ID,
    BIN,
    ROOT,
    Child,
    DemoError,
    Merchant,
    Till,
    TillPlace,
    free_port,
    start_merchant,
    start_till,
    wait_listening,
)

CHAIN = "lotus"
STORE_A = TillPlace("SH01", "T1", "Lotus Tea House Shanghai")
STORE_B = TillPlace("BJ07", "T1", "Lotus Tea House Beijing")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
Say = Callable[[str], None]


def _quiet(text: str) -> None:
    del text


@dataclass
class Chain:
    work: Path
    children: list[Child]
    hq: Path = Path()
    mqtt_url: str = ""
    ws_url: str = ""
    relay_url: str = ""
    metrics_url: str = ""
    merchant: Merchant | None = None
    tills: dict[str, Till] = field(default_factory=dict)  # "A", "B"

    @property
    def viewer_config(self) -> Path:
        return self.hq / "bundles" / "viewer" / "viewer.toml"


@dataclass
class ChainResult:
    card_no: str
    slip_png: Path
    callback_url: str  # where "Alipay" sent the customer's phone
    callback_status: int | None
    callback_page: str  # what the phone showed, as text
    opened_at: dict[str, list[str]]  # store -> card numbers opened there (member.opened on its ECR socket)
    fleet: dict[str, Any]  # `posagent fleet status --json`
    metrics: dict[str, float]  # the relay's /metrics, summed by name


def short(path: Path) -> str:
    """A path as the reader of the narration wants it: relative to the checkout when inside it."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(ROOT))
    return str(path)


def posagent(*argv: str, say: Say = _quiet, show: bool = True) -> str:
    """Run `posagent ARGS` as an operator would; what it printed (DemoError when it fails)."""
    if show:
        say("$ posagent " + " ".join(short(Path(a)) if a.startswith("/") else a for a in argv))
    done = subprocess.run([str(BIN / "posagent"), *argv], capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise DemoError(f"posagent {' '.join(argv[:2])} exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def build_chain(work: Path, children: list[Child], say: Say = _quiet, step: Say = _quiet) -> Chain:
    """Headquarters, the broker, the merchant's side, the relay and two stores, all running; every process goes
    into `children` as it starts (the caller stops them: `stop_all(children)`)."""
    if not Path(MOSQUITTO).exists():
        raise DemoError("Eclipse Mosquitto is not installed (Debian package mosquitto): `./run demo --chain` installs "
                        "it when run as root; otherwise: sudo apt-get install mosquitto")  # fmt: skip
    if work.exists():
        shutil.rmtree(work)
    (work / "logs").mkdir(parents=True)
    chain = Chain(work, children, hq=work / "hq")
    _headquarters(chain, say, step)
    _broker(chain, say)
    step("The merchant's side: the app's keys, Alipay (simulated) and the chain's card template")
    chain.merchant = start_merchant(work / "merchant", children, say)
    _relay(chain, say, step)
    step("Two stores, one till each: printer, scanner and the agent with its [fleet] bundle")
    for label, place, broker in (("A", STORE_A, chain.mqtt_url), ("B", STORE_B, chain.ws_url)):
        chain.tills[label] = _till(chain, label, place, broker, say)
    for label, till in chain.tills.items():
        fleet = _wait_linked(till)
        say(f"store {label}'s till is linked: {fleet['broker']} ({fleet['state']}, subscribed to its callback topic)")
    return chain


def _headquarters(chain: Chain, say: Say, step: Say) -> None:
    hq = chain.hq
    mqtt_port, ws_port, relay_port = free_port(), free_port(), free_port()
    chain.mqtt_url, chain.ws_url = f"mqtts://127.0.0.1:{mqtt_port}", f"wss://127.0.0.1:{ws_port}/mqtt"
    chain.relay_url = f"http://127.0.0.1:{relay_port}/alipay/open-card"
    step(f"Headquarters ({short(hq)}): the broker's config with a private CA, then every account")
    out = posagent("fleet", "broker-config", "--hq", str(hq), "--make-ca", "--host", "localhost", "--host",
                   "127.0.0.1", "--port", str(mqtt_port), "--ws-port", str(ws_port), "--bind", "127.0.0.1",
                   say=say)  # fmt: skip
    for line in out.splitlines()[:3]:
        say("  " + line.replace(str(ROOT) + "/", ""))
    common = ["--hq", str(hq), "--chain", CHAIN]
    posagent("fleet", "provision", *common, "--relay", "--broker", chain.mqtt_url, say=say)
    posagent("fleet", "provision", *common, "--viewer", say=say)
    for place, broker in ((STORE_A, chain.mqtt_url), (STORE_B, chain.ws_url)):
        posagent("fleet", "provision", *common, "--store", place.store_id, "--till", place.till_id, "--broker",
                 broker, "--callback-url", chain.relay_url, say=say)  # fmt: skip
    say(f"  accounts in {short(hq / 'passwd')} (hashed) and {short(hq / 'acl')}; the CA in every bundle "
        f"({short(hq / 'bundles')}/*)")  # fmt: skip


def _broker(chain: Chain, say: Say) -> None:
    """Mosquitto with the snippet, under a main config like Debian's /etc/mosquitto/mosquitto.conf (this user,
    the database and the log in the demo's folder)."""
    from relay.provision.broker_conf import local_main_conf

    folder = chain.work / "broker"
    (folder / "data").mkdir(parents=True)
    main = folder / "mosquitto.conf"
    main.write_text(local_main_conf(str(chain.hq / "broker"), data_dir=str(folder / "data"),
                                    log_file=str(chain.work / "logs" / "mosquitto.log"), user=getpass.getuser()))
    broker = Child.start("mosquitto", [MOSQUITTO, "-c", str(main)], chain.work / "logs" / "mosquitto.stderr.log",
                         read_first_line=False, into=chain.children)  # fmt: skip
    for url in (chain.mqtt_url, chain.ws_url):
        wait_listening(int(url.rsplit(":", 1)[1].split("/", 1)[0]), broker, chain.work / "logs" / "mosquitto.log")
    say(f"mosquitto -c {short(main)} (it includes {short(chain.hq / 'broker' / 'posagent.conf')}): "
        f"{chain.mqtt_url} and {chain.ws_url}")  # fmt: skip


def _relay(chain: Chain, say: Say, step: Say) -> None:
    assert chain.merchant is not None
    step("Headquarters' relay: the chain's one callback address (posagent relay run)")
    bundle = (chain.hq / "bundles" / "relay" / "relay.toml").read_text()
    bundle = bundle.replace("[chain]\n", f'[chain]\napp_id = "{APP_ID}"\n'
                            f'template_ids = ["{chain.merchant.template_id}"]\n', 1)  # fmt: skip
    port = int(chain.relay_url.rsplit(":", 1)[1].split("/", 1)[0])
    config = chain.work / "relay" / "relay.toml"
    config.parent.mkdir()
    config.write_text(f"""# The relay's config: the bundle's relay.toml from `posagent fleet provision --relay`, and
# what only headquarters knows (docs/fleet.md). On this machine the public URL is plain http on loopback;
# a chain's is https, behind its load balancer.
[relay]
public_url = "{chain.relay_url}"
host = "127.0.0.1"
port = {port}

[metrics]
port = {free_port()}

{bundle}""")
    relay = Child.start("relay", [str(BIN / "posagent"), "relay", "run", "--config", str(config)],
                        chain.work / "logs" / "relay.log", into=chain.children)  # fmt: skip
    assert relay.process.stdout is not None
    second = relay.process.stdout.readline()
    found = re.search(r"metrics (\S+);", second)
    if found is None:
        raise DemoError(f"the relay did not say where it listens: {second!r} (see {chain.work / 'logs'})")
    chain.metrics_url = found.group(1)
    say(f"$ posagent relay run --config {short(config)}")
    say(f"  {relay.first_line}   <- what the Alipay console has as the app's callback")
    say(f"  {second.strip()}")


def _till(chain: Chain, label: str, place: TillPlace, broker: str, say: Say) -> Till:
    """The technician's part at a store: the bundle's files into the till's keys folder, its [fleet] section
    into agent.toml, the relay's URL as [members] callback_url."""
    assert chain.merchant is not None
    work = chain.work / f"store-{label}"
    keys = work / "keys"
    keys.mkdir(parents=True)
    bundle = chain.hq / "bundles" / f"{place.store_id}-{place.till_id}"
    for name in ("fleet.key", "fleet_password", "fleet-ca.pem"):
        shutil.copy(bundle / name, keys / name)
        (keys / name).chmod(0o600)
    fleet = "\n" + (bundle / "fleet.toml").read_text().replace("/etc/posagent/", f"{keys}/")
    say(f"store {label} ({place.store_id}, {place.name}) in {short(work)}: the bundle's files in {short(keys)}, "
        f"broker {broker}")  # fmt: skip
    return start_till(work, chain.merchant, chain.children, lambda text: say("  " + text), place=place,
                      callback_url=chain.relay_url, camera=False, fleet=fleet)  # fmt: skip


def _ecr(till: Till) -> Any:
    from agent.ecr.client import EcrClient

    return EcrClient.connect(("127.0.0.1", till.ecr_port), token=till.token, client="demo-till")


def _wait_linked(till: Till, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with _ecr(till) as ecr:
        while True:
            fleet: dict[str, Any] = ecr.request("status.get")["fleet"]
            if fleet.get("state") == "connected" and fleet.get("subscribed"):
                return fleet
            if time.monotonic() > deadline:
                raise DemoError(f"the till of {till.place.store_id} did not link up with the broker: {fleet}")
            time.sleep(0.2)


def chain_journey(chain: Chain, say: Say = _quiet, step: Say = _quiet) -> ChainResult:
    """A customer of store B enrolls at B's till, opens the card in "Alipay" through the relay, and the card
    opens at B's till; then headquarters' view: fleet status and the relay's metrics."""
    import zxingcpp
    from PIL import Image

    from hardware_sim.customer import open_card

    till_a, till_b = chain.tills["A"], chain.tills["B"]
    with _ecr(till_a) as ecr_a, _ecr(till_b) as ecr_b:
        step("A customer of store B enrolls at B's till: member.enroll prints the activation slip at B")
        enrolled = ecr_b.request("member.enroll", {"job_id": "ENR-B1"})
        printed = ecr_b.wait_for("print.updated", lambda b: b["job"]["state"] in ("printed", "failed"), timeout=30)
        if printed["body"]["job"]["state"] != "printed":
            raise DemoError(f"the slip did not print: {printed['body']['job']['reason']}")
        slip = sorted(till_b.slips.glob("*.png"))[-1]
        say(f"slip printed at store B: {short(slip)} (out_string {enrolled['enrollment']['out_string']})")

        step("The customer scans the slip in Alipay and fills the form; Alipay sends the phone to the relay")
        codes = [r.text for r in zxingcpp.read_barcodes(Image.open(slip))]
        if len(codes) != 1:
            raise DemoError(f"the slip's QR did not decode: {codes}")
        result = open_card(codes[0], mobile="13800138000", name="王芳", follow_callback=True)
        page = _page_text(result.callback_body)
        say(f"the phone is sent to {(result.callback_url or '').split('?', 1)[0]}?... (the relay)")
        say(f"the relay answers HTTP {result.callback_status}: {page}")
        if result.callback_status != 200:
            raise DemoError(f"the relay did not take the callback: HTTP {result.callback_status} {page}")

        step("The card opens at store B's till (member.opened on B's ECR socket), and nowhere else")
        opened = ecr_b.wait_for("member.opened", timeout=60)["body"]
        card_no = str(opened["card_no"])
        say(f"store B: card {card_no} opened for enrollment {opened['job_id']} (event member.opened)")
        time.sleep(1)  # time enough for a misrouted callback to show up at A
        ecr_a.request("status.get")  # whatever arrived at A since is in ecr_a.events
        at_a = [str(e["body"]["card_no"]) for e in ecr_a.events if e.get("event") == "member.opened"]
        say("store A: nothing (no member.opened)" if not at_a else f"store A: member.opened {at_a} (misrouted!)")

    step("Headquarters' view: posagent fleet status (the tills' retained statuses)")
    fleet = _fleet_status(chain)
    for line in posagent("fleet", "status", "--config", str(chain.viewer_config), say=say).splitlines():
        say("  " + line)
    step("The relay's /metrics (what headquarters' Prometheus scrapes)")
    metrics = relay_metrics(chain.metrics_url)
    for line in metrics_lines(chain.metrics_url, metrics):
        say(line)
    return ChainResult(card_no, slip, result.callback_url or "", result.callback_status, page,
                       {"A": at_a, "B": [card_no]}, fleet, metrics)  # fmt: skip


def _page_text(body: str) -> str:
    """The relay's bilingual page as one line: the Chinese title, then the English text."""
    title = re.search(r"<h1>(.*?)</h1>", body)
    english = re.search(r"<p lang=en>(.*?)</p>", body)
    parts = [html.unescape(m.group(1)) for m in (title, english) if m]
    return " / ".join(parts) or body[:120]


def _fleet_status(chain: Chain, timeout: float = 30.0) -> dict[str, Any]:
    """`fleet status --json` once both tills report healthy (a status follows a change within seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = json.loads(posagent("fleet", "status", "--config", str(chain.viewer_config),
                                                     "--json", "--wait", "5", show=False))  # fmt: skip
        tills = report.get("tills", [])
        if len(tills) == len(chain.tills) and all(t["healthy"] for t in tills):
            return report
        if time.monotonic() > deadline:
            return report  # shown as it is: the caller sees what is wrong
        time.sleep(0.5)


def relay_metrics(url: str) -> dict[str, float]:
    """The relay's samples summed by name and the labels that matter here (`name{state=...}`)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback)
        text = answer.read().decode()
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith(("posagent_relay_", "posagent_fleet_")) or sample.name.endswith(
                    ("_bucket", "_created")):  # fmt: skip
                continue
            key = sample.name
            if "state" in sample.labels:
                key += f"{{state={sample.labels['state']}}}"
            sums[key] = sums.get(key, 0.0) + sample.value
    return sums


def metrics_lines(url: str, m: dict[str, float]) -> list[str]:
    def n(name: str) -> int:
        return int(m.get(name, 0))

    return [f"{url}: callbacks received {n('posagent_relay_callbacks_received_total')}, published (PUBACK) "
            f"{n('posagent_relay_callbacks_published_total')}, refused {n('posagent_relay_callbacks_refused_total')}, "
            f"failed {n('posagent_relay_callbacks_failed_total')}; broker connected "
            f"{'yes' if n('posagent_relay_broker_connected') else 'NO'}",
            f"the fleet: {n('posagent_fleet_stores_online')} of {n('posagent_fleet_stores')} stores online; tills "
            f"online {n('posagent_fleet_tills{state=online}')}, offline {n('posagent_fleet_tills{state=offline}')}, "
            f"never seen {n('posagent_fleet_tills{state=never_seen}')}"]  # fmt: skip
