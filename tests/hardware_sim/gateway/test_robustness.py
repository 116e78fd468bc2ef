"""Bad input never crashes the gateway: every API answers arbitrary JSON with a signed, definite reply."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardware_sim.gateway.apis import HANDLERS
from hardware_sim.gateway.gateway import Gateway
from hardware_sim.gateway.httpparse import ParsedRequest
from hardware_sim.gateway.keys import generate_private_key
from hardware_sim.gateway.state import Store

from .oapi import china_time, public_pem, sign_params

FIELDS = [
    "request_id", "card_type", "biz_no_prefix", "biz_no_suffix_len", "template_style_info", "column_info_list",
    "field_rule_list", "card_level_conf", "template_id", "fields", "callback", "out_string", "biz_type",
    "out_serial_no", "card_template_id", "card_user_info", "card_ext_info", "target_card_no",
    "target_card_no_type", "occur_time", "card_info", "reason_code", "out_trade_no", "trade_no", "scene",
    "auth_code", "subject", "total_amount",
]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from([*FIELDS, "x"]), inner, max_size=3),
    max_leaves=8,
)
BIZ = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8)
KNOWN_CODES = {"10000", "10003", "20001", "40002", "40004"}

APP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
GATEWAY = Gateway(Store(None), generate_private_key())
GATEWAY.register_app("2021000000000001", public_pem(APP_KEY))


def send(method: str, biz_content: str, extra: dict[str, str]) -> dict[str, Any]:
    params = {"app_id": "2021000000000001", "method": method, "charset": "utf-8", "sign_type": "RSA2",
              "timestamp": china_time(), "version": "1.0", "biz_content": biz_content, **extra}  # fmt: skip
    params["sign"] = sign_params(params, APP_KEY)
    body = GATEWAY.handle(ParsedRequest(params=params)).body
    node: dict[str, Any] = next(iter(json.loads(body).values()))
    return node


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(sorted(HANDLERS)),
    biz=BIZ,
    extra=st.dictionaries(st.sampled_from(["grant_type", "code", "refresh_token", "auth_token", "image_type"]),
                          st.text(min_size=1, max_size=8).filter(lambda s: "\x00" not in s), max_size=3),
)  # fmt: skip
def test_arbitrary_business_input_gets_a_definite_reply(
    method: str, biz: dict[str, Any], extra: dict[str, str]
) -> None:
    node = send(method, json.dumps(biz), extra)
    assert node.get("code", "10000") in KNOWN_CODES, node  # never 20000 aop.unknow-error (= a crash inside)


@settings(max_examples=30, deadline=None)
@given(method=st.sampled_from(sorted(HANDLERS)), raw=st.text(max_size=20).filter(lambda s: "\x00" not in s))
def test_biz_content_that_is_not_an_object(method: str, raw: str) -> None:
    node = send(method, raw, {})
    assert node.get("code", "10000") in KNOWN_CODES, node
