"""The README's first command: the agent's main job, played against the simulated store.

Uses only the public commands (`posagent`, `posagent-sim`), as a merchant and a technician would,
and narrates each step. Everything it makes stays in var/demo/ for a person to look at.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APP_ID = "2021000000000001"


def step(number: int, text: str) -> None:
    print(f"\n\033[1m[{number}] {text}\033[0m", flush=True)


def note(text: str) -> None:
    print(f"    {text}", flush=True)


def run(*argv: str, expect_json: bool = True) -> Any:
    """Run a command; show its human output or parse its --json output; stop the demo on failure."""
    command = [str(BIN / argv[0]), *argv[1:]]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        raise SystemExit(f"demo failed: {' '.join(argv[:3])} exited with {result.returncode}")
    return json.loads(result.stdout) if expect_json else result.stdout


class Gateway:
    """`posagent-sim gateway` in a child process, stopped with SIGTERM at the end."""

    def __init__(self, state_dir: Path, app_public_key: Path) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "posagent-sim"), "gateway", "--port", "0", "--state-dir", str(state_dir),
             "--app", f"{APP_ID}={app_public_key}"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.stop()
            raise SystemExit("demo failed: the gateway simulator did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the agent against the simulated store.")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "demo", help="where the demo keeps its files")
    args = parser.parse_args()
    work: Path = args.workdir
    started = time.monotonic()
    if work.exists():
        shutil.rmtree(work)
    (work / "keys").mkdir(parents=True)
    print(f"POS Agent demo: the merchant's set-up and a first member, against the simulated Alipay gateway.\n"
          f"Files go to {work}")  # fmt: skip

    step(1, "Generate the app key pair (posagent keys generate)")
    keys = run("posagent", "keys", "generate", "--out", str(work / "keys"), "--json")
    note(f"private key {keys['private_key_file']} (mode 0600)")
    note(f"public key to paste into the Alipay console: {keys['public_key'][:40]}...")

    step(2, "Start the simulated Alipay gateway (posagent-sim gateway) with the app's public key")
    gateway = Gateway(work / "gateway", Path(keys["public_key_file"]))
    try:
        note(f"gateway {gateway.url}")
        shutil.copy(work / "gateway" / "alipay_public_key.pem", work / "keys" / "alipay_public_key.pem")
        config = work / "agent.toml"
        config.write_text(
            "[alipay]\n"
            f'app_id = "{APP_ID}"\n'
            f'gateway = "{gateway.url}"\n'
            'app_private_key_file = "keys/app_private_key.pem"\n'
            'alipay_public_key_file = "keys/alipay_public_key.pem"\n\n'
            "[store]\n"
            'id = "SH01"\ntill_id = "T1"\nname = "Demo Store"\n\n'
            "[paths]\n"
            f'state_dir = "{work / "state"}"\n'
        )
        os.environ["POSAGENT_CONFIG"] = str(config)
        note(f"agent config {config}")
        journey(work, gateway)
    finally:
        gateway.stop()
    print(f"\nDone in {time.monotonic() - started:.1f} s. Everything is in {work}.")
    return 0


def journey(work: Path, gateway: Gateway) -> None:
    spec_dir = work / "template"
    shutil.copytree(ROOT / "deploy" / "examples", spec_dir)
    spec = spec_dir / "card-template.toml"

    step(3, "Create the membership card template (posagent card create-template), images uploaded first")
    template = run("posagent", "card", "create-template", str(spec), "--json")
    template_id = template["template_id"]
    note(f"template_id {template_id} (request_id kept in {template.get('state_file', spec.name + '.state.json')})")
    again = run("posagent", "card", "create-template", str(spec), "--json")
    note(f"run again: same template {again['template_id']} (the stored request_id makes it idempotent)")

    step(4, "Configure the open-card form and get the activation URL")
    run("posagent", "card", "set-form", template_id, "--required", "mobile,name", "--optional", "gender,birthday",
        "--json")  # fmt: skip
    note("form: mobile and name required; gender and birthday optional")
    png = work / "activation-qr.png"
    callback_url = "https://member.lotus-tea.example/alipay/open-card"
    activation = run("posagent", "card", "activation-url", template_id, "--callback", callback_url,
                     "--out-string", "SH01:T1:demo", "--png", str(png), "--json")  # fmt: skip
    url = activation["url"]
    note(f"activation URL {url}")
    note(f"QR code saved as {png} (this is what the till prints on the slip)")

    step(5, "A customer scans the QR, fills the form in Alipay, and is sent to the merchant's callback")
    customer = run("posagent-sim", "customer", "open-card", url, "--mobile", "13800138000", "--name", "张三",
                   "--gender", "MALE", "--no-follow", "--json")  # fmt: skip
    callback = customer["callback_url"]
    params = customer["params"]
    note(f"customer {customer['mobile']} is sent to {callback.split('?')[0]}")
    note(f"with template_id, request_id {params['request_id']}, out_string {params.get('out_string')!r} and a "
         "single-use auth_code")  # fmt: skip

    step(6, "The agent opens the card: oauth.token -> activateform.query -> card.open")
    opened = run("posagent", "card", "open", "--callback-url", callback, "--level", "VIP1", "--points", "100",
                 "--json")  # fmt: skip
    card_no = opened["card_no"]
    note(f"card {card_no} opened with 100 points")

    step(7, "Points after a purchase: an absolute update with its business time, then a look-up")
    run("posagent", "card", "update", card_no, "--points", "180", "--changed-point", "80", "--reason", "purchase",
        "--json")  # fmt: skip
    queried = run("posagent", "card", "query", card_no, "--json")
    note(f"Alipay now shows {queried['card_info'].get('point')} points, level {queried['card_info'].get('level')}")

    step(8, "The simulator's books (its inspection endpoint)")
    books = inspect(gateway.url)
    card = next(c for c in books["cards"] if c["biz_card_no"] == card_no)
    note(f"cards: {len(books['cards'])}, templates: {len(books['templates'])}, "
         f"points updates: {len(card.get('updates', []))}, regressions: {books['regressions']}")  # fmt: skip


def inspect(gateway_url: str) -> dict[str, Any]:
    import urllib.request

    base = gateway_url.rsplit("/", 1)[0]
    with urllib.request.urlopen(f"{base}/__admin/inspect", timeout=10) as response:  # noqa: S310 (loopback)
        data: dict[str, Any] = json.load(response)
    return data


if __name__ == "__main__":
    sys.exit(main())
