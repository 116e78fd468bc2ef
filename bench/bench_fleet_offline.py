"""A till away for ten minutes (default) while its customers finish the card form: what the chain delivers
when it is back, in the relay's two modes side by side.

Two tills, each a real agent (`posagent run` with `[fleet]`), a real Mosquitto, the simulated gateway
(auth_codes live 300 s, as short as Alipay's can), and two relay instances: one that forwards the callback
as it came (the till exchanges the auth_code when it is back), one in exchange mode (the relay exchanges
it at once). Each till enrolls its customers, is stopped, its customers open their cards (following the
callback to their relay, as a phone does), the minutes pass, the till starts again.

Run: .venv/bin/python bench/bench_fleet_offline.py [--minutes 10] [--customers 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402

from agent.fleet.topics import TillRef  # noqa: E402
from hardware_sim.customer import open_card  # noqa: E402
from hardware_sim.gateway import GatewaySimulator  # noqa: E402
from tests.support.broker import Broker  # noqa: E402
from tests.support.chain import provision_chain, relay_config, running_tills, wait_linked  # noqa: E402
from tests.support.daemon import card_template  # noqa: E402
from tests.support.gateway import _APP_KEY, APP_ID  # noqa: E402
from tests.support.gateway import Store as GatewayStore  # noqa: E402
from tests.support.relay_process import RelayProcess  # noqa: E402

FORWARD, EXCHANGE = TillRef("acme", "S1", "T1"), TillRef("acme", "S2", "T1")


def exchange_section(folder: Path, gateway: GatewaySimulator) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / "app_private_key.pem"
    private.write_bytes(_APP_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
    private.chmod(0o600)
    public = folder / "alipay_public_key.pem"
    public.write_text(gateway.alipay_public_key_pem)
    return (f'[exchange]\napp_private_key_file = "{private}"\nalipay_public_key_file = "{public}"\n'
            f'gateway = "{gateway.url}"\n')  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--customers", type=int, default=5)
    args = parser.parse_args()
    from agent.alipay import Credentials, load_public_key

    public_pem = _APP_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp_name, GatewaySimulator(apps={APP_ID: public_pem}) as gateway, \
            Broker.start(Path(tmp_name) / "broker") as broker:  # fmt: skip
        tmp = Path(tmp_name)
        store = GatewayStore(gateway, Credentials(APP_ID, _APP_KEY, load_public_key(gateway.alipay_public_key_pem)))
        hq = tmp / "hq"
        provision_chain(hq, broker, [FORWARD, EXCHANGE])
        template_id = card_template(store)
        forwarding = RelayProcess(relay_config(hq, template_id, "relay-forward"))
        exchanging = RelayProcess(relay_config(hq, template_id, "relay-exchange",
                                               exchange_section(tmp / "exchange-keys", gateway)))  # fmt: skip
        try:
            urls = {FORWARD: forwarding.url, EXCHANGE: exchanging.url}
            with running_tills(tmp, hq, [FORWARD, EXCHANGE], gateway=store, template_id=template_id,
                               relay_url=urls) as tills:  # fmt: skip
                slips: dict[TillRef, list[str]] = {}
                for ref, till in tills.items():
                    with till.daemon.ecr() as ecr:
                        wait_linked(ecr)
                        for n in range(args.customers):
                            ecr.request("member.enroll", {"job_id": f"{ref.store}-E{n}"})
                    slips[ref] = [till.slip_url(f"{ref.store}-E{n}") for n in range(args.customers)]
                    till.daemon.stop()
                answered: dict[TillRef, list[int | None]] = {}
                for ref, urls_of_till in slips.items():
                    mobiles = [f"13{n}{ref.store[-1]}0000000"[:11] for n in range(len(urls_of_till))]
                    answered[ref] = [open_card(url, mobile=mobile, name="李雷").callback_status
                                     for url, mobile in zip(urls_of_till, mobiles, strict=True)]  # fmt: skip
                away_since = time.monotonic()
                print(f"both tills stopped; {2 * args.customers} customers finished the form; waiting "
                      f"{args.minutes:g} min", flush=True)  # fmt: skip
                time.sleep(args.minutes * 60)
                results = {}
                for ref, till in tills.items():
                    till.daemon.start()
                    with till.daemon.ecr() as ecr:
                        wait_linked(ecr)
                        opened = 0
                        deadline = time.monotonic() + 120
                        while opened < args.customers and time.monotonic() < deadline:
                            try:
                                ecr.wait_for("member.opened", timeout=max(0.1, deadline - time.monotonic()))
                                opened += 1
                            except TimeoutError:
                                break
                        jobs = ecr.request("outbox.list", {"state": "dead"}).get("jobs", [])
                    results[ref] = (opened, [j.get("last_error") for j in jobs])
                away = time.monotonic() - away_since
        finally:
            forwarding.stop()
            exchanging.stop()
    print(f"tills away for {away / 60:.1f} min; auth_codes live {300 / 60:.0f} min at the simulated Alipay")
    for label, ref in (("forward (the till exchanges the code)", FORWARD), ("exchange (the relay does, at once)",
                                                                              EXCHANGE)):  # fmt: skip
        opened, dead = results[ref]
        ok = sum(status == 200 for status in answered[ref])
        print(f"  {label:40s} relay answered 200: {ok}/{args.customers}   cards opened: {opened}/{args.customers}"
              + (f"   dead: {len(dead)} ({dead[0]})" if dead else ""))  # fmt: skip


if __name__ == "__main__":
    main()
