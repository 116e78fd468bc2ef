"""The chain's fleet link: the broker reachable, its TLS certificate verifying, this till's credentials
accepted, its callback topic subscribed. Each step only when the one before it passed.

The probe connects with a client id of its own (`<client_id>-doctor-<random>`) and a clean session
that ends with it, so it never takes over the running agent's session nor touches its queue of
callbacks; it publishes nothing (the till's retained status stays as it is).

Mosquitto grants every subscription and applies its ACL when it delivers, so with Mosquitto an ACL
that does not let the till read its topic shows as callbacks that never come, not here; brokers that
refuse at subscribe time (EMQX, cloud IoT platforms) are caught here.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import threading
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.daemon.fleet_link.client import connect_error_text, refusal_text
from agent.daemon.fleet_link.settings import default_client_id, till_of
from agent.daemon.preflight import SecretFileError, read_secret_file
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn
from agent.fleet.broker_url import BrokerUrl, parse_broker_url

BROKER, TLS, CREDENTIALS, SUBSCRIPTION = "fleet.broker", "fleet.tls", "fleet.credentials", "fleet.subscription"
FIREWALL_FIX = ("check the internet line and DNS, and that the store's firewall lets this PC out to the broker on this "
                "port; where only HTTPS gets out, use broker = \"wss://HOST:443/mqtt\"")  # fmt: skip
TLS_FIX = ("check the PC's clock (timedatectl); [fleet] ca_file must be the CA that signed the broker's certificate "
           "(headquarters gives it; unset: the system's CAs); a proxy that intercepts TLS must let the broker through")
CREDENTIALS_FIX = ("[fleet] password_file must hold the password headquarters provisioned for this till (posagent "
                   "fleet provision), and username (default <store>-<till>) its user; check [store] id and till_id")
SUBSCRIPTION_FIX = ("the broker's ACL must let this till's user read its callback topic: provision the till again at "
                    "headquarters (posagent fleet provision), and check [fleet] chain and [store] id and till_id")


def _skipped(*names: str) -> list[Finding]:
    return [warn(name, "not checked: see the finding above", "fix the finding above, then run again") for name in names]


def check_fleet(ctx: Context) -> list[Finding]:
    config = ctx.agent_config
    fleet = config.fleet
    if fleet is None:
        return [ok("fleet", "no fleet link ([fleet] not set): callbacks reach this till directly")]
    url = parse_broker_url(fleet.broker)  # the config's own check passed
    findings = [_reachable(url, ctx.network_timeout)]
    if findings[-1].status.value != "OK":
        return findings + _skipped(TLS, CREDENTIALS, SUBSCRIPTION)
    if url.tls:
        findings.append(_tls(url, fleet.ca_file, ctx.network_timeout))
        if findings[-1].status.value != "OK":
            return findings + _skipped(CREDENTIALS, SUBSCRIPTION)
    else:
        findings.append(warn(TLS, f"{url.scheme}:// is not encrypted (allowed only to a broker on this PC)",
                             "use mqtts:// or wss:// for a broker at headquarters"))  # fmt: skip
    try:
        password = read_secret_file(fleet.password_file, "fleet.password_file")
    except SecretFileError as exc:
        return [*findings, fail(CREDENTIALS, f"not checked: {exc}", "see the key.fleet_password finding"),
                *_skipped(SUBSCRIPTION)]  # fmt: skip
    till = till_of(config)
    probe = MqttProbe(url, str(fleet.ca_file) if fleet.ca_file else None, fleet.username or till.name, password,
                      f"{fleet.client_id or default_client_id(till)}-doctor-{secrets.token_hex(3)}",
                      till.callback_topic, ctx.network_timeout)  # fmt: skip
    result = probe.run()
    findings.append(judge_credentials(result, url, fleet.username or till.name))
    if findings[-1].status.value != "OK":
        return findings + _skipped(SUBSCRIPTION)
    findings.append(judge_subscription(result.suback, till.callback_topic))
    return findings


def _reachable(url: BrokerUrl, timeout: float) -> Finding:
    where = f"{url.host}:{url.port}"
    try:
        with socket.create_connection((url.host, url.port), timeout=timeout):
            pass
    except OSError as exc:
        return fail(BROKER, connect_error_text(exc, where), FIREWALL_FIX)
    return ok(BROKER, f"{where} answers")


def _tls(url: BrokerUrl, ca_file: object, timeout: float) -> Finding:
    where = f"{url.host}:{url.port}"
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        with socket.create_connection((url.host, url.port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=url.host) as tls:  # fmt: skip
            version = tls.version()
    except (ssl.SSLError, ssl.CertificateError) as exc:
        return fail(TLS, connect_error_text(exc, where), TLS_FIX)
    except OSError as exc:
        return fail(TLS, connect_error_text(exc, where), FIREWALL_FIX)
    trusted = "the configured CA" if ca_file else "the system's CAs"
    return ok(TLS, f"{where} presents a certificate for {url.host} that verifies with {trusted} ({version})")


# ---- the MQTT probe ------------------------------------------------------------------------------


@dataclass
class ProbeResult:
    error: BaseException | None = None  # the connection itself failed
    connack: ReasonCode | None = None
    suback: ReasonCode | None = None
    timed_out: bool = False
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class MqttProbe:
    url: BrokerUrl
    ca_file: str | None
    username: str
    password: str
    client_id: str
    topic: str
    timeout: float

    def __repr__(self) -> str:  # the password is a secret
        return f"MqttProbe(url='{self.url}', username={self.username!r}, client_id={self.client_id!r})"

    def run(self) -> ProbeResult:
        """Connect (clean session, gone when the probe ends), subscribe at QoS 1, disconnect."""
        result = ProbeResult()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                             transport=self.url.transport)  # fmt: skip
        client.connect_timeout = self.timeout
        if self.url.websockets:
            client.ws_set_options(path=self.url.path or "/mqtt")
        if self.url.tls:
            client.tls_set_context(ssl.create_default_context(cafile=self.ca_file))
        client.username_pw_set(self.username, self.password)

        def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: ReasonCode,
                       properties: object) -> None:  # fmt: skip
            result.connack = reason
            if reason.is_failure:
                result.done.set()
            else:
                c.subscribe(self.topic, options=SubscribeOptions(qos=1))

        def on_subscribe(c: mqtt.Client, userdata: object, mid: int, reasons: list[ReasonCode],
                         properties: object) -> None:  # fmt: skip
            result.suback = reasons[0] if reasons else None
            result.done.set()

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 0  # nothing of the probe outlives it
        try:
            client.connect(self.url.host, self.url.port, keepalive=30, clean_start=True, properties=properties)
        except (OSError, ValueError) as exc:
            result.error = exc
            return result
        client.loop_start()
        try:
            result.timed_out = not result.done.wait(self.timeout * 2)
        finally:
            with contextlib.suppress(Exception):
                if client.is_connected():
                    client.disconnect()
            client.loop_stop()
        return result


def judge_credentials(result: ProbeResult, url: BrokerUrl, username: str) -> Finding:
    if result.error is not None:
        return fail(CREDENTIALS, f"not checked: {connect_error_text(result.error, str(url))}", TLS_FIX)
    if result.connack is None:
        return fail(CREDENTIALS, f"{url} did not answer the MQTT connection in time (is it an MQTT broker, and the "
                                 "WebSocket path right?)", FIREWALL_FIX)  # fmt: skip
    if result.connack.is_failure:
        return fail(CREDENTIALS, refusal_text(result.connack), CREDENTIALS_FIX)
    return ok(CREDENTIALS, f"{url} accepted user {username}")


def judge_subscription(suback: ReasonCode | None, topic: str) -> Finding:
    if suback is None:
        return fail(SUBSCRIPTION, f"the broker did not answer the subscription to {topic} in time", SUBSCRIPTION_FIX)
    if suback.is_failure:
        return fail(SUBSCRIPTION, f"the broker refused the subscription to {topic} ({suback.getName()})",
                    SUBSCRIPTION_FIX)  # fmt: skip
    if suback.value != 1:
        return fail(SUBSCRIPTION, f"the broker granted {topic} only at QoS {suback.value}: callbacks could be lost",
                    "let the broker grant QoS 1 (its max_qos / the ACL)")  # fmt: skip
    return ok(SUBSCRIPTION, f"{topic} subscribed at QoS 1")


__all__ = ["BROKER", "CREDENTIALS", "SUBSCRIPTION", "TLS", "MqttProbe", "ProbeResult", "check_fleet",
           "judge_credentials", "judge_subscription"]  # fmt: skip
