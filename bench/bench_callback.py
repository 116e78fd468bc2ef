"""The open-card callback under a flood of forged callbacks: how fast they are shed, and what the flood
does to a points update sent meanwhile (its latency, side by side with the same update without a flood).

Everything in one process on loopback: the gateway simulator, the real callback server, member
service, outbox and dispatcher. The forgeries carry the right template id and made-up auth codes,
with no out_string, an edited one, or the previous release's layout. Bounded by a request count.

    .venv/bin/python bench/bench_callback.py [--forgeries 3000] [--updates 5] [--workers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import string
import tempfile
import time
from io import BytesIO
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image

from agent.alipay import AlipayClient, Credentials, Timeouts, apis, load_public_key
from agent.daemon.app import outbox_policies
from agent.daemon.callback import CallbackServer
from agent.jobs import card_authorize, card_open, loyalty
from agent.jobs.loyalty import LoyaltyUpdate
from agent.members import out_string
from agent.members.service import MemberService, MemberSettings
from agent.members.store import MemberStore
from hardware_sim.customer import open_card
from hardware_sim.gateway import GatewaySimulator
from offline_queue import Dispatcher, Outbox, State, create_key_file, load_key_file

APP_ID = "2021000000000001"
PATH = "/alipay/open-card"


def png(width: int, height: int) -> bytes:
    out = BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


async def make_template(client: AlipayClient) -> str:
    logo = await client.execute(apis.ImageUpload("png", "logo", png(500, 500), filename="logo.png"))
    background = await client.execute(apis.ImageUpload("png", "background", png(1020, 643), filename="bg.png"))
    created = await client.execute(apis.TemplateCreate(
        request_id="bench", biz_no_prefix="LOTUS", biz_no_suffix_len=10, write_off_type="qrcode",
        template_style_info={"card_show_name": "Bench", "logo_id": logo.image_id, "background_id": background.image_id,
                             "bg_color": "rgb(1,2,3)"},
        template={"column_info_list": [{"code": "POINT", "title": "Points"}],
                  "field_rule_list": [{"field_name": "Point", "rule_name": "ASSIGN_FROM_REQUEST",
                                       "rule_value": "Point"}]},
    ))  # fmt: skip
    await client.execute(apis.FormTemplateSet(template_id=created.template_id, required=["mobile", "name"]))
    return created.template_id


def forgeries(template_id: str, prefix: str, count: int) -> list[str]:
    rng = random.Random(7)
    letters = string.ascii_letters + string.digits
    queries = []
    for n in range(count):
        query = f"auth_code={''.join(rng.choices(letters, k=32))}&template_id={template_id}&request_id={10**28 + n}"
        if n % 3 == 1:
            query += f"&out_string={prefix}.E{n}.{''.join(rng.choices(letters, k=22))}"
        elif n % 3 == 2:
            query += f"&out_string=S1:T1:E{n}"
        queries.append(query)
    return queries


async def flood(base: str, queries: list[str], workers: int) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}
    pending = list(queries)
    async with httpx.AsyncClient(timeout=10) as http:

        async def worker() -> None:
            while pending:
                status = (await http.get(f"{base}?{pending.pop()}")).status_code
                statuses[status] = statuses.get(status, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - start, statuses


async def run(args: argparse.Namespace, root: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with GatewaySimulator(apps={APP_ID: pem.decode()}) as sim:
        client = AlipayClient(Credentials(APP_ID, key, load_public_key(sim.alipay_public_key_pem)), sim.url,
                              timeouts=Timeouts(connect=2, read=5))  # fmt: skip
        template_id = await make_template(client)
        key_file = create_key_file(root / "outbox.key")
        outbox = Outbox.open(root / "agent.db", key_file=key_file, policies=outbox_policies(300.0))
        server = CallbackServer("127.0.0.1", 0, PATH, None)  # type: ignore[arg-type]  # the port first, then the sink
        await server.start()
        assert server.address is not None
        base = f"http://127.0.0.1:{server.address[1]}{PATH}"
        settings = MemberSettings(template_id=template_id, app_id=APP_ID, store_id="S1", till_id="T1", store_name="B",
                                  callback_url=base)  # fmt: skip
        members = MemberService(client, outbox, MemberStore(root / "agent.db"), settings,
                                out_string_key=load_key_file(key_file).derive(out_string.KEY_LABEL))  # fmt: skip
        server.sink = members
        handlers = {loyalty.KIND: loyalty.handler(client), card_open.KIND: card_open.handler(client),
                    card_authorize.KIND: card_authorize.handler(client, outbox, members.card_values)}  # fmt: skip
        dispatcher = Dispatcher(outbox, handlers, concurrency=4)
        sending = asyncio.create_task(dispatcher.run())
        finished: dict[int, float] = {}
        outbox.subscribe(lambda e: finished.setdefault(e.job_id, time.perf_counter())
                         if e.state in (State.DONE, State.DEAD) else None)  # fmt: skip

        _, url = await members.enroll("E1", external_card_no=None, print_job_id="p1")
        result = await asyncio.to_thread(open_card, url, mobile="13900001111", name="Li", follow_callback=True)
        assert result.callback_status == 200, result.callback_body
        while not outbox.list(kind=card_open.KIND, state="done"):
            await asyncio.sleep(0.05)
        card_no = outbox.list(kind=card_open.KIND, state="done")[0].result["card_no"]
        update_n = 0

        async def update_latency() -> float:
            nonlocal update_n
            update_n += 1
            start = time.perf_counter()
            update = LoyaltyUpdate(update_id=f"U{update_n}", card_no=card_no, point=str(100 + update_n),
                                   occur_time=f"2026-11-25 10:{update_n // 60:02d}:{update_n % 60:02d}")  # fmt: skip
            job = await asyncio.to_thread(loyalty.enqueue, outbox, update)
            while job.id not in finished:
                await asyncio.sleep(0.002)
            return finished[job.id] - start

        quiet = [await update_latency() for _ in range(args.updates)]
        oauth_before = sim.inspect()["calls"].get("alipay.system.oauth.token", 0)
        prefix = url.split("out_string=", 1)[1].split(".E1.", 1)[0]
        flooding = asyncio.create_task(flood(base, forgeries(template_id, prefix, args.forgeries), args.workers))
        await asyncio.sleep(0.2)
        loud = []
        while not flooding.done() and len(loud) < args.updates:
            loud.append(await update_latency())
        seconds, statuses = await flooding
        oauth_after = sim.inspect()["calls"].get("alipay.system.oauth.token", 0)

        dispatcher.stop()
        await sending
        await server.close()
        await client.aclose()
        authorize_jobs = len(outbox.list(kind=card_authorize.KIND))
        outbox.close()

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:7.1f} ms" if values else "    n/a"

    print(f"forged callbacks shed           {args.forgeries / seconds:7.0f} /s   answers {statuses}")
    print(f"  durable jobs they made        {authorize_jobs - 1:7d}      (not counting the genuine slip's)")
    print(f"  oauth.token calls they caused {oauth_after - oauth_before:7d}")
    print(f"loyalty.update enqueue -> done  {ms(quiet)} without a flood   {ms(loud)} during it "
          f"(medians of {len(quiet)} / {len(loud)})")  # fmt: skip


def main() -> None:
    logging.getLogger("agent").setLevel(logging.ERROR)  # the refusals are the point here, not news
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--forgeries", type=int, default=3000)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-callback-") as root:
        asyncio.run(run(args, Path(root)))


if __name__ == "__main__":
    main()
