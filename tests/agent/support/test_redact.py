"""Redaction: secret settings leave the config, secret values leave every text, the rest stays readable."""

from __future__ import annotations

import tomllib

from agent.support.redact import REMOVED, Redactor, redact_config, schema_secret_keys
from agent.support.toml_text import dumps

KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" * 4
PEM = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(KEY_BODY[i : i + 64] for i in range(0, len(KEY_BODY), 64)) + \
    "\n-----END PRIVATE KEY-----\n"  # fmt: skip


def test_the_schema_marks_the_token_and_key_files_secret() -> None:
    assert {"ecr.token_file", "outbox.key_file", "alipay.app_auth_token_file"} <= schema_secret_keys()


def test_secret_settings_and_secret_looking_keys_are_removed() -> None:
    raw = {
        "alipay": {"app_id": "2021000000000001", "app_private_key_file": "k.pem", "gateway": "sandbox"},
        "ecr": {"token_file": "t", "tcp_port": 7410},
        "custom": {"db_password": "hunter2", "api_secret": "x", "session_cookie": "y", "note": "fine"},
        "scanners": [{"path": "/dev/ttyACM0", "auth_header": "Bearer abc"}],
    }
    redacted = redact_config(raw)
    assert redacted["alipay"]["app_private_key_file"] == REMOVED and redacted["ecr"]["token_file"] == REMOVED
    assert all(redacted["custom"][k] == REMOVED for k in ("db_password", "api_secret", "session_cookie"))
    assert redacted["scanners"][0] == {"path": "/dev/ttyACM0", "auth_header": REMOVED}
    assert redacted["alipay"]["gateway"] == "sandbox" and redacted["ecr"]["tcp_port"] == 7410
    assert redacted["custom"]["note"] == "fine"


def test_an_explicitly_secret_key_goes_even_with_an_innocent_name() -> None:
    assert redact_config({"store": {"name": "x"}}, frozenset({"store.name"})) == {"store": {"name": REMOVED}}


def test_url_userinfo_and_masked_values_in_strings() -> None:
    redacted = redact_config({"printer": {"uri": "tcp://admin:pa55@192.168.1.50:9100"},
                              "alipay": {"gateway": "https://user:pw@gw.example/gateway.do"},
                              "camera": {"source": "rtsp://cam:secret@10.0.0.5/stream"}})  # fmt: skip
    assert redacted["printer"]["uri"] == "tcp://<removed>@192.168.1.50:9100"
    assert redacted["alipay"]["gateway"] == "https://<removed>@gw.example/gateway.do"
    assert "secret" not in redacted["camera"]["source"]


def test_passwords_with_an_at_sign_or_in_the_query_are_removed_whole() -> None:
    redacted = redact_config({"camera": {"source": "rtsp://admin:p@ss-S3cr3t@10.0.0.5/stream"},
                              "printer": {"uri": "http://cam/snap.cgi?user=admin&pwd=S3cr3t"}})  # fmt: skip
    text = Redactor().redact("opening rtsp://admin:p@ss-S3cr3t@10.0.0.5/stream")

    assert "S3cr3t" not in str(redacted) and "S3cr3t" not in text
    assert redacted["camera"]["source"].endswith("@10.0.0.5/stream") and "10.0.0.5/stream" in text


def test_the_rebuilt_config_reads_back_the_same() -> None:
    data = {"title": 'a "quoted" name\nand 中文', "n": 3, "f": 1.5, "on": True, "list": ["a", "b"],
            "store": {"id": "S1", "nested": {"x": 1}}, "scanners": [{"path": "/dev/a"}, {"path": "/dev/b", "baudrate": 9600}],
            "weird key": {"inline": [{"a": 1}]}}  # fmt: skip
    assert tomllib.loads(dumps(data)) == data


def test_known_secret_values_go_wherever_they_appear() -> None:
    token = "Zk3v9QpL2mXr8TnY4cWb6HdJ0sFa1GeU"
    redactor = Redactor([token + "\n", PEM])
    text = redactor.redact(f"hello {token}; key:\n{PEM}\none line {KEY_BODY}\npart {KEY_BODY[70:110]} end")
    assert token not in text and "PRIVATE KEY" not in text
    for start in range(len(KEY_BODY) - 30):
        assert KEY_BODY[start : start + 30] not in text
    assert text.startswith("hello <removed>;") and text.endswith(" end")


def test_pattern_masking_applies_without_any_known_secret() -> None:
    text = Redactor().redact("code 286543210987654321 phone 13812345678 auth_code=abcdef123456 port 7410")
    assert text == "code 28**********4321 phone 138****5678 auth_code=<secret> port 7410"


def test_short_or_empty_secret_files_do_not_blank_ordinary_words() -> None:
    assert Redactor(["", "a\n", "1"]).redact("a 1 attempt") == "a 1 attempt"


def test_the_app_id_and_template_id_stay_readable_while_payment_codes_are_masked() -> None:
    app_id, template, code = "2021000000000001", "20261126528380380045087514122222", "286512345678901234"
    config = redact_config({"alipay": {"app_id": app_id}, "members": {"template_id": template}})
    assert config == {"alipay": {"app_id": app_id}, "members": {"template_id": template}}
    redactor = Redactor(public=[app_id, template])
    text = redactor.redact(f"app {app_id} template {template} paid with {code}")
    assert app_id in text and template in text and code not in text and code[-4:] in text
