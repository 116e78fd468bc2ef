"""Real gateway replies captured in the protocol reference, re-signed with a test key, verify and parse.

Alipay's real signatures cannot be reproduced without Alipay's private key, so each captured node text
is kept byte for byte and signed by the test's "Alipay" key; everything else is the real reply.
"""

from __future__ import annotations

import pytest

from agent.alipay import BusinessError, ConfigurationError, OpenApiProtocol, apis

from .conftest import KeySet, rsa2_sign

PAY = apis.TradePay(out_trade_no="out_trade_no18", auth_code="287654321098765432", subject="x", total_amount="20")


@pytest.fixture
def protocol(keys: KeySet) -> OpenApiProtocol:
    return OpenApiProtocol(keys.credentials, "sandbox")


def captured(keys: KeySet, name: str, node: str, *, between: str = "") -> bytes:
    return f'{{"{name}":{node},{between}"sign":"{rsa2_sign(keys.alipay_private, node.encode())}"}}'.encode()


def test_trade_pay_success(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = ('{"trade_no":"2017032121001004070200176846","code":"10000","invoice_amount":"20.00","open_id":"2088...",'
            '"fund_bill_list":[{"amount":"20.00","fund_channel":"ALIPAYACCOUNT"}],"buyer_logon_id":"csq***@sandbox.com",'
            '"receipt_amount":"20.00","out_trade_no":"out_trade_no18","buyer_pay_amount":"20.00",'
            '"buyer_user_id":"2088102169481075","msg":"Success","point_amount":"0.00",'
            '"gmt_payment":"2017-03-21 15:07:29","total_amount":"20.00"}')  # fmt: skip
    result = protocol.parse(PAY, 200, captured(keys, "alipay_trade_pay_response", node))
    assert (result.code, result.trade_no, result.total_amount) == ("10000", "2017032121001004070200176846", "20.00")
    assert not result.in_process


def test_trade_pay_waiting_for_the_buyer(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = ('{"code":"10003","msg":" order success pay inprocess","buyer_logon_id":"503***@qq.com",'
            '"buyer_pay_amount":"0.00","buyer_user_id":"2088012049401966","invoice_amount":"0.00","open_id":"...",'
            '"out_trade_no":"20160913114747732","point_amount":"0.00","receipt_amount":"0.00",'
            '"total_amount":"3000000.00","trade_no":"2016091321001004960256548386"}')  # fmt: skip
    result = protocol.parse(PAY, 200, captured(keys, "alipay_trade_pay_response", node))
    assert result.in_process and result.trade_no == "2016091321001004960256548386"


def test_oauth_token_without_code_or_msg(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = ('{"access_token":"authusrB94739c226e9c400196af5bc4740a9X01","alipay_user_id":'
            '"20880063008624437006283650118501","expires_in":1296000,"re_expires_in":2592000,'
            '"refresh_token":"authusrBff1f0be8cae1436dace07e6e7cd7cX01","user_id":"2088902487861012"}')  # fmt: skip
    token = protocol.parse(apis.OAuthToken(code="c"), 200, captured(keys, "alipay_system_oauth_token_response", node))
    assert token.user_id == "2088902487861012" and token.expires_in == 1296000
    assert "authusrB" not in repr(token)


def test_card_open_success(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = ('{"code":"10000","msg":"Success","card_info":{"biz_card_no":"rlstech0000000549","external_card_no":'
            '"EXT002","open_date":"2017-09-12 15:59:38","valid_date":"2021-09-11 15:59:38"},'
            '"open_card_channel":"develop","open_card_channel_id":"127001"}')  # fmt: skip
    request = apis.CardOpen(out_serial_no="o", card_template_id="t", auth_token="a", user_id="2088902487861012",
                            card_ext_info=apis.CardInfo(external_card_no="EXT002"))  # fmt: skip
    opened = protocol.parse(request, 200, captured(keys, "alipay_marketing_card_open_response", node))
    assert opened.card_no == "rlstech0000000549"
    assert opened.card_info.valid_date == "2021-09-11 15:59:38"


def test_activation_form_infos_json_string(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = ('{"code":"10000","msg":"Success","infos":"[{\\"OPEN_FORM_FIELD_MOBILE\\":\\"13552319194\\"},'
            '{\\"OPEN_FORM_FIELD_NAME\\":\\"李飞\\"}]"}')  # fmt: skip
    request = apis.ActivateFormQuery(template_id="t", request_id="r", auth_token="a")
    form = protocol.parse(request, 200, captured(keys, "alipay_marketing_card_activateform_query_response", node))
    assert form.answers == {"OPEN_FORM_FIELD_MOBILE": "13552319194", "OPEN_FORM_FIELD_NAME": "李飞"}
    assert "13552319194" not in repr(form)


def test_activation_url_is_url_decoded(protocol: OpenApiProtocol, keys: KeySet) -> None:
    encoded = ("https%3A%2F%2Fmemberprod.alipay.com%2Faccount%2Fopenform%2Factivecard.htm%3Fapp_id%3D2017070707672608"
               "%26template_id%3D20170911000000000515841000300417%26__webview_options__%3DcanPullDown%253dNO%2526"
               "transparentTitle%253dauto%26callback%3D%2Falicard%2Fbackend%2Fdefault%2Fopen")  # fmt: skip
    node = f'{{"code":"10000","msg":"Success","apply_card_url":"{encoded}"}}'
    url = protocol.parse(apis.ActivateUrlApply(template_id="t"), 200,
                         captured(keys, "alipay_marketing_card_activateurl_apply_response", node))  # fmt: skip
    assert url.url == (
        "https://memberprod.alipay.com/account/openform/activecard.htm?app_id=2017070707672608"
        "&template_id=20170911000000000515841000300417&__webview_options__=canPullDown%3dNO%26transparentTitle"
        "%3dauto&callback=/alicard/backend/default/open"
    )


def test_code_invalid_error_response(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = '{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"授权码code无效"}'
    with pytest.raises(BusinessError) as info:
        protocol.parse(apis.OAuthToken(code="c"), 200, captured(keys, "error_response", node))
    assert info.value.sub_msg == "授权码code无效"


def test_invalid_app_auth_token_error_response(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = ('{"code":"20001","msg":"Insufficient Token Permissions","sub_code":"aop.invalid-app-auth-token",'
            '"sub_msg":"无效的应用授权令牌"}')  # fmt: skip
    with pytest.raises(ConfigurationError):
        protocol.parse(apis.CardQuery(target_card_no="x"), 200, captured(keys, "error_response", node))


def test_invalid_signature_inside_the_method_node(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = ('{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错，'
            '建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：app_id=2019...&method=alipay.trade.pay"}')  # fmt: skip
    with pytest.raises(ConfigurationError) as info:
        protocol.parse(PAY, 200, captured(keys, "alipay_trade_pay_response", node))
    assert "private key" in (info.value.hint or "")


def test_cert_mode_member_between_node_and_sign(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = '{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","out_trade_no":"o1"}'
    body = captured(keys, "alipay_trade_query_response", node, between='"alipay_cert_sn":"f8c7c9179064683fdbf9b068",')
    assert protocol.parse(apis.TradeQuery(out_trade_no="o1"), 200, body).paid


def test_query_not_found_is_a_business_failure(protocol: OpenApiProtocol, keys: KeySet) -> None:
    node = ('{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在",'
            '"buyer_pay_amount":"0.00","invoice_amount":"0.00","out_trade_no":"o1","point_amount":"0.00",'
            '"receipt_amount":"0.00"}')  # fmt: skip
    with pytest.raises(BusinessError) as info:
        protocol.parse(apis.TradeQuery(out_trade_no="o1"), 200, captured(keys, "alipay_trade_query_response", node))
    assert info.value.sub_code == "ACQ.TRADE_NOT_EXIST"
