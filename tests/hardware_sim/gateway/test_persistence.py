"""With a state dir, a restarted simulator keeps its keys, apps and every piece of state."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from hardware_sim.customer import open_card
from hardware_sim.gateway import Behaviour, GatewaySimulator, example

from .conftest import APP_ID, activation_url, make_template, open_member_card
from .oapi import TinyClient, public_pem


def test_restart_keeps_keys_apps_and_state(tmp_path: Path, app_key: rsa.RSAPrivateKey) -> None:
    with GatewaySimulator(state_dir=tmp_path) as sim:
        sim.register_app(APP_ID, public_pem(app_key))  # at run time: saved under apps/
        client = TinyClient(sim.url, APP_ID, app_key, sim.alipay_public_key_pem)
        template_id = make_template(client)
        card_no = open_member_card(client, template_id)
        client.ok("alipay.marketing.card.update", {
            "target_card_no": card_no, "target_card_no_type": "BIZ_CARD",
            "occur_time": "2026-01-01 10:00:00", "card_info": {"point": "42"}})  # fmt: skip
        client.ok("alipay.trade.pay", {"out_trade_no": "t1", "scene": "bar_code", "subject": "x",
                                       "total_amount": "1.00", "auth_code": example(Behaviour.PAID)})  # fmt: skip
        url = activation_url(client, template_id)
        key_pem, before = sim.alipay_public_key_pem, sim.inspect()
        client.close()
    assert stat.S_IMODE((tmp_path / "alipay_private_key.pem").stat().st_mode) == 0o600
    assert (tmp_path / "alipay_public_key.pem").read_text() == key_pem

    with GatewaySimulator(state_dir=tmp_path) as sim:
        assert sim.alipay_public_key_pem == key_pem
        client = TinyClient(sim.url, APP_ID, app_key, sim.alipay_public_key_pem)
        after = sim.inspect()
        assert after["cards"] == before["cards"] and after["trades"] == before["trades"]
        assert after["templates"] == before["templates"]
        query = client.ok("alipay.marketing.card.query", {"target_card_no": card_no, "target_card_no_type": "BIZ_CARD"})
        assert query["card_info"]["point"] == "42"
        assert client.ok("alipay.trade.query", {"out_trade_no": "t1"})["trade_status"] == "TRADE_SUCCESS"
        # the old activation URL (an old port in it) still names a known form; same user, same card
        new_url = url.replace(url.split("%3A")[2].split("%2F")[0], str(sim.port))
        result = open_card(new_url, mobile="13800138000", name="Li", follow_callback=False)
        assert result.params["template_id"] == template_id
        assert open_member_card(client, template_id, serial="open-1") == card_no  # idempotent across restarts
        client.close()


def test_without_state_dir_nothing_is_written(tmp_path: Path, app_key: rsa.RSAPrivateKey) -> None:
    with GatewaySimulator(apps={APP_ID: public_pem(app_key)}) as first, GatewaySimulator() as second:
        assert first.alipay_public_key_pem != second.alipay_public_key_pem
    assert list(tmp_path.iterdir()) == []


def test_apps_dir_files_are_registered(tmp_path: Path, app_key: rsa.RSAPrivateKey) -> None:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / f"{APP_ID}.pem").write_text(public_pem(app_key))
    with GatewaySimulator(state_dir=tmp_path) as sim:
        assert sim.gateway.app_ids() == [APP_ID]
