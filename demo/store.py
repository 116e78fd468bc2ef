"""A whole simulated store, built only from the public commands, and the customer journey through it.

    gateway  posagent-sim gateway   (with the merchant's card template made by `posagent card ...`)
    printer  posagent-sim printer   (slips rendered as PNG into a folder)
    scanner  posagent-sim scanner   (a serial scanner on a pseudo-terminal)
    camera   posagent-sim camera    (a live MJPEG camera)
    agent    posagent run           (the daemon, as systemd would start it)

Used by the README's first command (demo/store_demo.py) and by the end-to-end journey test; its parts
(`start_merchant`: keys, gateway, card template; `start_till`: printer, scanner, camera and the agent) also
build the chain demo's stores (demo/chain.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APP_ID = "2021000000000001"
PAID_CODE = "281012345678901234"  # the gateway simulator pays codes whose third digit is not 9
CARD_PREFIX = "LOTUS"
ORGANIZATION = "Lotus Tea House Ltd"
# Certificate mode: the three files the console gives (named in [alipay]) and the key beside them.
CERT_FILES = {"app_cert_file": f"appCertPublicKey_{APP_ID}.crt", "alipay_cert_file": "alipayCertPublicKey_RSA2.crt",
              "alipay_root_cert_file": "alipayRootCert.crt"}  # fmt: skip


class DemoError(RuntimeError):
    pass


def cli(*argv: str) -> Any:
    """Run a posagent/posagent-sim command with --json and return what it printed."""
    return json.loads(cli_text(*argv))


def cli_text(*argv: str) -> str:
    """Run a posagent/posagent-sim command and return what it printed."""
    result = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, check=False,
                            timeout=120)  # fmt: skip
    if result.returncode != 0:
        raise DemoError(f"{' '.join(argv[:3])} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


@dataclass
class Child:
    """A simulator or the agent in a child process; `first_line` is what it printed first."""

    name: str
    process: subprocess.Popen[str]
    first_line: str = ""

    @classmethod
    def start(cls, name: str, argv: list[str], log: Path, *, read_first_line: bool = True,
              into: list[Child] | None = None) -> Child:  # fmt: skip
        """Start it; `into` holds it from the moment it runs (before its first line), so whoever stops
        everything on an interruption stops it too."""
        handle = log.open("a")
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE if read_first_line else handle,
                                   stderr=handle, text=True)  # fmt: skip
        child = cls(name, process)
        if into is not None:
            into.append(child)
        if read_first_line:
            assert process.stdout is not None
            child.first_line = process.stdout.readline().strip()
            if not child.first_line:
                raise DemoError(f"{name} did not start (see {log})")
        return child

    def say(self, line: str) -> None:
        stdin: IO[str] | None = self.process.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def inspect_gateway(gateway_url: str) -> dict[str, Any]:
    """What the simulated Alipay holds (cards, trades, counters), from its admin endpoint."""
    import urllib.request

    admin = gateway_url.rsplit("/", 1)[0] + "/__admin"
    with urllib.request.urlopen(f"{admin}/inspect", timeout=10) as answer:  # noqa: S310 (loopback)
        data: dict[str, Any] = json.load(answer)
    return data


def stop_all(children: list[Child]) -> None:
    """Stop every child, the last started first (the agents before the devices and the gateway they use)."""
    for child in reversed(children):
        child.stop()


@dataclass
class Merchant:
    """The merchant's side, shared by every store of the app: its keys, Alipay (the simulated gateway) and the
    card template with its form."""

    work: Path
    keys: Path
    gateway_url: str
    template_id: str = ""
    cert_mode: bool = False  # the app signs in public-key certificate mode (公钥证书) instead of with keys

    @property
    def key_files(self) -> list[str]:
        """What a technician copies to each store PC next to the private key."""
        files = list(CERT_FILES.values()) if self.cert_mode else ["alipay_public_key.pem"]
        return ["app_private_key.pem", *files]

    def inspect(self) -> dict[str, Any]:
        return inspect_gateway(self.gateway_url)


@dataclass(frozen=True)
class TillPlace:
    """Which till of which store: `[store]` of its agent.toml."""

    store_id: str = "SH01"
    till_id: str = "T1"
    name: str = "Lotus Tea House"


@dataclass
class Till:
    """One till: its printer (slips as PNG), serial scanner, camera (optional) and the agent, as a technician
    sets them up on the store PC."""

    work: Path
    place: TillPlace
    ecr_port: int
    status_port: int
    token: str
    slips: Path
    agent: Child
    scanner: Child
    camera: Child | None = None

    @property
    def config(self) -> Path:
        return self.work / "agent.toml"


@dataclass
class SimulatedStore:
    work: Path
    gateway_url: str = ""
    template_id: str = ""
    card_prefix: str = CARD_PREFIX
    cert_mode: bool = False
    ecr_port: int = 0
    status_port: int = 0
    token: str = ""
    slips: Path = Path()
    children: list[Child] = field(default_factory=list)
    scanner: Child | None = None
    camera: Child | None = None

    def stop(self) -> None:
        stop_all(self.children)

    def inspect(self) -> dict[str, Any]:
        return inspect_gateway(self.gateway_url)


def china_now() -> str:
    """Business time as Alipay wants it: China time, whatever this PC's zone."""
    from agent.alipay.envelope import china_timestamp, utc_now

    return china_timestamp(utc_now())


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build_store(work: Path, say: Callable[[str], None] = lambda text: None, *,
                children: list[Child] | None = None, cert_mode: bool = False) -> SimulatedStore:  # fmt: skip
    """Set up the merchant's side (keys, template, form) and start every device and the agent, each
    added to `children` as it starts (so whoever holds that list can stop them even mid-set-up).
    `cert_mode`: the app uses public-key certificates (a CSR, the console's three files) instead of keys."""
    if work.exists():
        shutil.rmtree(work)
    store = SimulatedStore(work=work, slips=work / "slips", children=[] if children is None else children,
                           cert_mode=cert_mode)  # fmt: skip
    try:
        merchant = start_merchant(work, store.children, say, cert_mode=cert_mode)
        store.gateway_url, store.template_id = merchant.gateway_url, merchant.template_id
        callback_port = free_port()
        till = start_till(work, merchant, store.children, say,
                          callback_url=f"http://127.0.0.1:{callback_port}/alipay/open-card",
                          callback_port=callback_port)  # fmt: skip
        store.ecr_port, store.status_port, store.token = till.ecr_port, till.status_port, till.token
        store.scanner, store.camera = till.scanner, till.camera
    except BaseException:
        store.stop()
        raise
    return store


def start_merchant(work: Path, children: list[Child], say: Callable[[str], None], *,
                   cert_mode: bool = False) -> Merchant:  # fmt: skip
    """The merchant's app key pair, the simulated Alipay gateway that knows it, and the card template from
    deploy/examples/card-template.toml with its form (`posagent card ...`, run with the config in `work`).
    `cert_mode`: a CSR instead, uploaded to the gateway as to the console, which gives the three files."""
    keys, logs = work / "keys", work / "logs"
    keys.mkdir(parents=True, exist_ok=True)
    logs.mkdir(exist_ok=True)
    csr = ["--csr", "--app-id", APP_ID, "--org", ORGANIZATION] if cert_mode else []
    generated = cli("posagent", "keys", "generate", "--out", str(keys), *csr, "--json")
    say(f"app key pair in {keys} (private key mode 0600)" + (f", CSR {generated['csr_file']}" if cert_mode else ""))
    app = [] if cert_mode else ["--app", f"{APP_ID}={generated['public_key_file']}"]
    gateway = Child.start("gateway", [str(BIN / "posagent-sim"), "gateway", "--port", "0", "--state-dir",
                                      str(work / "gateway"), *app], logs / "gateway.log", into=children)  # fmt: skip
    merchant = Merchant(work, keys, gateway.first_line, cert_mode=cert_mode)
    say(f"simulated Alipay gateway at {merchant.gateway_url}")
    if cert_mode:
        cli_text("posagent-sim", "gateway", "register-cert-app", "--url", merchant.gateway_url, "--app-id", APP_ID,
                 "--csr", str(generated["csr_file"]), "--out", str(keys))  # fmt: skip
        say(f"CSR uploaded (certificate mode): {', '.join(CERT_FILES.values())} saved in {keys}")
    else:
        shutil.copy(work / "gateway" / "alipay_public_key.pem", keys / "alipay_public_key.pem")

    config = work / "agent.toml"
    config.write_text(_alipay_config(merchant.gateway_url, TillPlace(), cert_mode=cert_mode))
    os.environ["POSAGENT_CONFIG"] = str(config)
    spec_dir = work / "template"
    shutil.copytree(ROOT / "deploy" / "examples", spec_dir, dirs_exist_ok=True)
    template = cli("posagent", "card", "create-template", str(spec_dir / "card-template.toml"), "--json")
    merchant.template_id = template["template_id"]
    cli("posagent", "card", "set-form", merchant.template_id, "--required", "mobile,name", "--optional",
        "gender,birthday", "--json")  # fmt: skip
    say(f"card template {merchant.template_id} created from deploy/examples/card-template.toml; form set")
    return merchant


def start_till(work: Path, merchant: Merchant, children: list[Child], say: Callable[[str], None], *,
               place: TillPlace = TillPlace(), callback_url: str, callback_port: int | None = None,
               camera: bool = True, fleet: str = "") -> Till:  # fmt: skip
    """A till in `work`: printer, serial scanner, camera (optional) and `posagent run` with its agent.toml.
    `callback_url` is where Alipay sends the customer (the agent's own listener on `callback_port`, or the
    chain's relay); `fleet` is the [fleet] section, if any. The app's keys are copied from the merchant's,
    as a technician installs them on each store PC."""
    from offline_queue import create_key_file

    keys, logs, slips = work / "keys", work / "logs", work / "slips"
    keys.mkdir(parents=True, exist_ok=True)
    logs.mkdir(exist_ok=True)
    if keys != merchant.keys:
        for name in merchant.key_files:
            shutil.copy(merchant.keys / name, keys / name)
            os.chmod(keys / name, 0o600)
    printer = Child.start("printer", [str(BIN / "posagent-sim"), "printer", "--port", "0", "--out", str(slips),
                                      "--width", "80"], logs / "printer.log", into=children)  # fmt: skip
    printer_port = int(printer.first_line.split(" on ", 1)[1].split(",", 1)[0].rsplit(":", 1)[1])
    scanner = Child.start("scanner", [str(BIN / "posagent-sim"), "scanner", "--link",
                                      str(work / "dev" / "serial-scanner")], logs / "scanner.log",
                          into=children)  # fmt: skip
    camera_child = None
    if camera:
        camera_child = Child.start("camera", [str(BIN / "posagent-sim"), "camera", "--serve", "--scene", "empty"],
                                   logs / "camera.log", into=children)  # fmt: skip
    say(f"printer on 127.0.0.1:{printer_port} (slips in {slips}), serial scanner {scanner.first_line}"
        + (f", camera {camera_child.first_line}" if camera_child else ""))  # fmt: skip

    token = "demo-" + os.urandom(16).hex()
    (keys / "ecr_token").write_text(token)
    os.chmod(keys / "ecr_token", 0o600)
    create_key_file(keys / "outbox.key")
    ecr_port, status_port = free_port(), free_port()
    config = work / "agent.toml"
    config.write_text(_alipay_config(merchant.gateway_url, place, cert_mode=merchant.cert_mode) + _devices_config(
        work, template_id=merchant.template_id, ecr_port=ecr_port, status_port=status_port, printer_port=printer_port,
        scanner_path=scanner.first_line, camera_url=camera_child.first_line if camera_child else None,
        callback_url=callback_url, callback_port=callback_port) + fleet)  # fmt: skip
    agent = Child.start("agent", [str(BIN / "posagent"), "run", "--config", str(config)], logs / "agent.log",
                        read_first_line=False, into=children)  # fmt: skip
    wait_listening(ecr_port, agent, logs / "agent.log")
    say(f"agent running (ECR on 127.0.0.1:{ecr_port}, log {logs / 'agent.log'})")
    say(f"status page http://127.0.0.1:{status_port}/ (log in with the token in {keys / 'ecr_token'})")
    return Till(work, place, ecr_port, status_port, token, slips, agent, scanner, camera_child)


def wait_listening(port: int, child: Child, log: Path, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise DemoError(f"the {child.name} exited:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise DemoError(f"the {child.name} did not start listening:\n{log.read_text()[-3000:]}")


def _alipay_config(gateway_url: str, place: TillPlace, *, cert_mode: bool = False) -> str:
    verify = ("\n".join(f'{key} = "keys/{name}"' for key, name in CERT_FILES.items()) if cert_mode
              else 'alipay_public_key_file = "keys/alipay_public_key.pem"')  # fmt: skip
    return f"""[alipay]
app_id = "{APP_ID}"
gateway = "{gateway_url}"
app_private_key_file = "keys/app_private_key.pem"
{verify}

[store]
id = "{place.store_id}"
till_id = "{place.till_id}"
name = "{place.name}"

[paths]
state_dir = "state"
"""


def _devices_config(work: Path, *, template_id: str, ecr_port: int, status_port: int, printer_port: int,
                    scanner_path: str, camera_url: str | None, callback_url: str,
                    callback_port: int | None) -> str:  # fmt: skip
    camera = f'\n[camera]\nsource = "{camera_url}"\n' if camera_url else ""
    callback = f"\n[callback]\nport = {callback_port}\n" if callback_port is not None else ""
    return f"""
[ecr]
token_file = "keys/ecr_token"
tcp_port = {ecr_port}
unix_socket = "{work / 'run' / 'ecr.sock'}"

[outbox]
key_file = "keys/outbox.key"

[codes]
card_prefixes = ["{CARD_PREFIX}"]

[printer]
uri = "tcp://127.0.0.1:{printer_port}"
paper_mm = 80

[[scanners]]
path = "{scanner_path}"
{camera}
[members]
template_id = "{template_id}"
callback_url = "{callback_url}"
level = "VIP1"
initial_points = "100"
{callback}
[status_page]
port = {status_port}
"""


@dataclass
class JourneyResult:
    card_no: str
    slip_png: Path
    sale: dict[str, Any]
    points: str


def journey(store: SimulatedStore, say: Callable[[str], None] = lambda text: None,
            step: Callable[[str], None] = lambda text: None) -> JourneyResult:  # fmt: skip
    """Enroll -> slip -> the customer scans the slip and opens the card -> member code at the camera ->
    member found -> a sale paid with the payment code on the scanner -> points updated at Alipay."""
    import zxingcpp
    from PIL import Image

    from agent.ecr.client import EcrClient
    from hardware_sim.customer import open_card

    assert store.scanner is not None and store.camera is not None
    with EcrClient.connect(("127.0.0.1", store.ecr_port), token=store.token, client="demo-till") as ecr:
        step("The cashier enrolls a customer: member.enroll prints the activation slip")
        enrolled = ecr.request("member.enroll", {"job_id": "ENR-1"})
        printed = ecr.wait_for("print.updated", lambda b: b["job"]["state"] in ("printed", "failed"), timeout=30)
        if printed["body"]["job"]["state"] != "printed":
            raise DemoError(f"the slip did not print: {printed['body']['job']['reason']}")
        slips = sorted(store.slips.glob("*.png"))
        say(f"slip printed: {slips[-1]} (enrollment out_string {enrolled['enrollment']['out_string']})")

        step("The customer scans the slip's QR in Alipay and fills the form")
        codes = [r.text for r in zxingcpp.read_barcodes(Image.open(slips[-1]))]
        if len(codes) != 1:
            raise DemoError(f"the slip's QR did not decode: {codes}")
        say(f"QR on the slip decodes to {codes[0][:70]}...")
        result = open_card(codes[0], mobile="13800138000", name="张三", gender="FEMALE", follow_callback=True)
        say(f"Alipay sent the customer's browser to the agent's callback: HTTP {result.callback_status}")
        opened = ecr.wait_for("member.opened", timeout=60)["body"]
        card_no = str(opened["card_no"])
        say(f"card {card_no} opened in the background (event member.opened for enrollment {opened['job_id']})")

        step("At checkout: a sale starts, the member shows the card's code to the camera")
        ecr.request("sale.start", {"sale_id": "SALE-1", "amount": "38.00", "subject": "Lotus Tea House"})
        store.camera.say(card_no)
        scan = ecr.wait_for("scan", lambda b: b["class"] == "member_card", timeout=30)["body"]
        store.camera.say("!clear")
        member = ecr.request("member.lookup", {"scan_id": scan["scan_id"]})["member"]
        say(f"camera read {scan['masked']}: member {member['card_no']}, level {member['level']}, "
            f"{member['points']} points")  # fmt: skip

        step("The customer pays: the payment code on the serial scanner")
        store.scanner.say(PAID_CODE)
        paid = ecr.wait_for("sale.updated", lambda b: b["sale"]["final"], timeout=60)["body"]["sale"]
        say(f"sale {paid['sale_id']}: {paid['state']}, trade {paid['trade_no']}, member {paid['member_card_no']}")

        if store.cert_mode:
            step("Alipay replaces its public-key certificate (certificate mode)")
            rotated = cli_text("posagent-sim", "gateway", "rotate-alipay-cert", "--url", store.gateway_url)
            say(f"the gateway now signs with a new certificate ({rotated.strip()}); the agent downloads it, checks "
                "it chains to alipayRootCert.crt, and keeps it in state/alipay_certs/")  # fmt: skip

        step("Points for the purchase: loyalty.update with the new absolute value")
        # The demo has no loyalty system of record, so the look-up stands in for one. A real till sends the
        # total its own loyalty system computed (docs/membership-walkthrough.md: a look-up plus an
        # increment loses points when two tills serve one member at once).
        points = str(int(float(member["points"])) + 38)
        ecr.request("loyalty.update", {"update_id": "PTS-1", "card_no": card_no, "points": points, "delta": "38",
                                       "reason": "purchase", "occur_time": china_now()})  # fmt: skip
        ecr.wait_for("loyalty.updated", lambda b: b["update_id"] == "PTS-1" and b["state"] == "done", timeout=60)
    books = store.inspect()
    card = next(c for c in books["cards"] if c["biz_card_no"] == card_no)
    say(f"Alipay's books: card {card_no} has {card['point']} points, level {card['level']}; "
        f"{len(books['trades'])} trade(s), {books['regressions']} regressions")  # fmt: skip
    if store.cert_mode:
        kept = sorted(p.name for p in (store.work / "state" / "alipay_certs").glob("*.pem"))
        say(f"certificate mode: {books['calls'].get('alipay.open.app.alipaycert.download', 0)} certificate "
            f"download(s); kept for the next start: {', '.join(kept) or 'none'}")  # fmt: skip
    step("What the technician sees: /metrics and the status page")
    for line in metrics_summary(store):
        say(line)
    return JourneyResult(card_no, slips[-1], paid, str(card["point"]))


def metrics_summary(store: SimulatedStore) -> list[str]:
    """The agent's own figures, scraped from /metrics as Prometheus would."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    url = f"http://127.0.0.1:{store.status_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def total(name: str, label: str) -> str:
        counts: dict[str, float] = {}
        for sample in samples:
            if sample.name == name:
                counts[sample.labels[label]] = counts.get(sample.labels[label], 0) + sample.value
        return ", ".join(f"{key.removeprefix('alipay.')} {value:.0f}" for key, value in sorted(counts.items()))

    up = [f"{s.labels['kind']} {'up' if s.value else 'DOWN'}" for s in samples if s.name == "posagent_device_up"]
    return [f"{url}: Alipay calls by method: {total('posagent_alipay_calls_total', 'method')}",
            f"scans by class: {total('posagent_scans_total', 'class')}; "
            f"print jobs: {total('posagent_print_jobs_total', 'outcome')}; devices: {', '.join(up)}",
            f"the same, live, on the status page: http://127.0.0.1:{store.status_port}/"]  # fmt: skip
