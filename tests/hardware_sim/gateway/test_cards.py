"""Membership cards end to end: template, form, activation, oauth, open, update, query, delete."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, unquote, urlsplit

from hardware_sim.customer import open_card
from hardware_sim.gateway import GatewaySimulator

from .conftest import activation_url, enroll, make_template, open_member_card, template_biz, upload_image
from .oapi import TinyClient


def test_template_create_is_idempotent_on_request_id(client: TinyClient, sim: GatewaySimulator) -> None:
    logo, bg = upload_image(client), upload_image(client, "bg")
    first = client.ok("alipay.marketing.card.template.create", template_biz(logo, bg, "same"))
    again = client.ok("alipay.marketing.card.template.create", template_biz(logo, bg, "same"))
    other = client.ok("alipay.marketing.card.template.create", template_biz(logo, bg, "other"))
    assert first["template_id"] == again["template_id"] != other["template_id"]
    assert len(first["template_id"]) == 32 and first["template_id"].isdigit()
    assert sim.inspect()["duplicates_absorbed"]["request_id"] == 1
    assert len(sim.inspect()["templates"]) == 2


def test_template_create_checks_fields(client: TinyClient) -> None:
    logo, bg = upload_image(client), upload_image(client, "bg")
    no_type = template_biz(logo, bg)
    del no_type["card_type"]
    reply = client.call("alipay.marketing.card.template.create", no_type)
    assert (reply.code, reply.sub_code) == ("40002", "isv.invalid-parameter")
    assert "card_type" in reply.node["sub_msg"]
    bad_len = client.call("alipay.marketing.card.template.create", template_biz(logo, bg, biz_no_suffix_len="7"))
    assert bad_len.sub_code == "isv.invalid-parameter"
    unknown_logo = client.call("alipay.marketing.card.template.create", template_biz("nope", bg))
    assert unknown_logo.sub_code == "isv.invalid-parameter"
    not_json = client.call("alipay.marketing.card.template.create", None, text={"biz_content": "{oops"})
    assert not_json.sub_code == "isv.invalid-parameter" and not_json.verified


def test_template_query_returns_what_was_created(client: TinyClient) -> None:
    template_id = make_template(client)
    node = client.ok("alipay.marketing.card.template.query", {"template_id": template_id})
    assert node["template_style_info"]["card_show_name"] == "Sim Card"
    missing = client.call("alipay.marketing.card.template.query", {"template_id": "1" * 32})
    assert (missing.code, missing.sub_code) == ("40004", "TEMPLATE_NOT_EXIST")


def test_formtemplate_set_rejects_bad_forms(client: TinyClient) -> None:
    template_id = make_template(client)
    for fields in (
        {"required": '{"common_fields":[]}'},
        {"required": '{"common_fields":["OPEN_FORM_FIELD_SHOE_SIZE"]}'},
        {"required": "not json"},
        {"required": '{"common_fields":["OPEN_FORM_FIELD_MOBILE"]}',
         "optional": '{"common_fields":["OPEN_FORM_FIELD_MOBILE"]}'},
    ):  # fmt: skip
        reply = client.call("alipay.marketing.card.formtemplate.set", {"template_id": template_id, "fields": fields})
        assert reply.sub_code == "isv.invalid-parameter", fields
    nested = {"required": {"common_fields": ["OPEN_FORM_FIELD_MOBILE"]}}  # the object form is accepted too
    client.ok("alipay.marketing.card.formtemplate.set", {"template_id": template_id, "fields": nested})


def test_activation_url_is_url_encoded_and_points_at_the_form(client: TinyClient, sim: GatewaySimulator) -> None:
    template_id = make_template(client)
    encoded = activation_url(client, template_id, out_string="till-7")
    assert encoded.startswith("http%3A%2F%2F127.0.0.1")
    url = unquote(encoded)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert url.startswith(sim.base_url + "/account/openform/activecard.htm?")
    assert query["template_id"] == [template_id] and query["callback"] == ["http://127.0.0.1:9/callback"]
    assert "__webview_options__=canPullDown%3dNO%26transparentTitle%3dauto" in parts.query


def test_open_card_flow_gives_sequential_card_numbers(client: TinyClient, sim: GatewaySimulator) -> None:
    template_id = make_template(client)
    first = open_member_card(client, template_id, "13800138000", "s-1")
    second = open_member_card(client, template_id, "13900139000", "s-2")
    assert (first, second) == ("sim0000000001", "sim0000000002")
    cards = sim.inspect()["cards"]
    assert [c["biz_card_no"] for c in cards] == [first, second]
    assert cards[0]["external_card_no"] == "EXT-1"


def test_activateform_query_returns_the_answers_as_a_json_string(client: TinyClient) -> None:
    template_id = make_template(client)
    result = open_card(
        activation_url(client, template_id), mobile="13800138000", name="李雷", gender="男", follow_callback=False
    )
    assert len(result.params["request_id"]) == 29 and len(result.params["auth_code"]) == 32
    token = client.ok(
        "alipay.system.oauth.token", text={"grant_type": "authorization_code", "code": result.params["auth_code"]}
    )
    node = client.ok(
        "alipay.marketing.card.activateform.query",
        {"biz_type": "MEMBER_CARD", "template_id": template_id, "request_id": result.params["request_id"]},
        auth_token=token["access_token"],
    )
    assert isinstance(node["infos"], str)
    assert json.loads(node["infos"]) == [
        {"OPEN_FORM_FIELD_MOBILE": "13800138000"},
        {"OPEN_FORM_FIELD_NAME": "李雷"},
        {"OPEN_FORM_FIELD_GENDER": "男"},
    ]


def test_auth_token_is_required_for_form_query_and_card_open(client: TinyClient) -> None:
    template_id = make_template(client)
    member = enroll(client, template_id)
    biz = {"biz_type": "MEMBER_CARD", "template_id": template_id, "request_id": member["request_id"]}
    for token in (None, "authusrBnotatoken"):
        reply = client.call("alipay.marketing.card.activateform.query", biz, auth_token=token)
        assert (reply.key, reply.code, reply.sub_code) == ("error_response", "20001", "aop.invalid-auth-token")
        assert reply.verified
    card_open = client.call(
        "alipay.marketing.card.open",
        {
            "out_serial_no": "x",
            "card_template_id": template_id,
            "card_user_info": {"user_uni_id": member["user_id"], "user_uni_id_type": "UID"},
            "card_ext_info": {},
        },
    )
    assert card_open.sub_code == "aop.invalid-auth-token"


def test_card_open_is_idempotent_and_one_card_per_user(client: TinyClient, sim: GatewaySimulator) -> None:
    template_id = make_template(client)
    member = enroll(client, template_id)

    def open_with(serial: str) -> dict[str, object]:
        return client.ok(
            "alipay.marketing.card.open",
            {
                "out_serial_no": serial,
                "card_template_id": template_id,
                "card_user_info": {"user_uni_id": member["user_id"], "user_uni_id_type": "UID"},
                "card_ext_info": {"point": "5"},
            },
            auth_token=member["access_token"],
        )

    first, replay, other_serial = open_with("s-1"), open_with("s-1"), open_with("s-2")
    assert first["card_info"] == replay["card_info"] == other_serial["card_info"]
    snapshot = sim.inspect()
    assert len(snapshot["cards"]) == 1
    assert snapshot["duplicates_absorbed"] == {"out_serial_no": 1, "card_per_user": 1}


def test_card_open_rejects_another_users_id(client: TinyClient) -> None:
    template_id = make_template(client)
    member = enroll(client, template_id)
    reply = client.call(
        "alipay.marketing.card.open",
        {
            "out_serial_no": "s-1",
            "card_template_id": template_id,
            "card_user_info": {"user_uni_id": "2088000000000000", "user_uni_id_type": "UID"},
            "card_ext_info": {},
        },
        auth_token=member["access_token"],
    )
    assert (reply.code, reply.sub_code) == ("40004", "unknown-sub-code")


def test_card_update_stores_absolute_values_and_counts_regressions(client: TinyClient, sim: GatewaySimulator) -> None:
    template_id = make_template(client)
    card_no = open_member_card(client, template_id)

    def update(occur_time: str, point: str, balance: str) -> None:
        client.ok(
            "alipay.marketing.card.update",
            {
                "target_card_no": card_no,
                "target_card_no_type": "BIZ_CARD",
                "occur_time": occur_time,
                "card_info": {"point": point, "balance": balance},
            },
        )

    update("2026-01-01 10:00:00", "100", "9.90")
    update("2026-01-01 12:00:00", "300", "5.00")
    update("2026-01-01 11:00:00", "200", "7.00")  # older than one already applied: a regression
    update("2026-01-01 11:00:00", "200", "7.00")  # identical replay: absorbed, still an old one
    node = client.ok("alipay.marketing.card.query", {"target_card_no": card_no, "target_card_no_type": "BIZ_CARD"})
    assert (node["card_info"]["point"], node["card_info"]["balance"]) == ("200", "7.00")  # applied like Alipay
    assert node["schema_url"].startswith("alipays://") and node["pass_id"]
    snapshot = sim.inspect()
    card = snapshot["cards"][0]
    assert [u["occur_time"][-8:] for u in card["updates"]] == ["10:00:00", "12:00:00", "11:00:00", "11:00:00"]
    assert [u["regression"] for u in card["updates"]] == [False, False, True, True]
    assert snapshot["regressions"] == 2
    assert snapshot["duplicates_absorbed"]["card_update"] == 1


def test_card_update_checks_types_and_card(client: TinyClient) -> None:
    template_id = make_template(client)
    card_no = open_member_card(client, template_id)
    base = {"target_card_no": card_no, "target_card_no_type": "BIZ_CARD", "occur_time": "2026-01-01 10:00:00"}
    numeric = client.call("alipay.marketing.card.update", {**base, "card_info": {"point": 100}})
    assert numeric.sub_code == "isv.invalid-parameter"
    bad_time = client.call("alipay.marketing.card.update", {**base, "occur_time": "2026/01/01", "card_info": {}})
    assert bad_time.sub_code == "isv.invalid-parameter"
    unknown = client.call("alipay.marketing.card.update", {**base, "target_card_no": "nope", "card_info": {}})
    assert (unknown.code, unknown.sub_code) == ("40004", "CARD_NOT_EXIST")


def test_card_delete_is_idempotent_and_frees_the_user(client: TinyClient, sim: GatewaySimulator) -> None:
    template_id = make_template(client)
    card_no = open_member_card(client, template_id)
    biz = {"out_serial_no": "del-1", "target_card_no": card_no, "target_card_no_type": "BIZ_CARD",
           "reason_code": "USER_UNBUND"}  # fmt: skip
    first, again = client.ok("alipay.marketing.card.delete", biz), client.ok("alipay.marketing.card.delete", biz)
    assert first["biz_serial_no"] == again["biz_serial_no"]
    gone = client.call("alipay.marketing.card.query", {"target_card_no": card_no, "target_card_no_type": "BIZ_CARD"})
    assert gone.sub_code == "CARD_NOT_EXIST"
    assert open_member_card(client, template_id, serial="open-2") == "sim0000000002"
    assert sim.inspect()["cards"][0]["deleted"] is True
