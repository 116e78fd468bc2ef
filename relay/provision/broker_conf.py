"""Headquarters' Mosquitto configuration for the chain, as text. Pure: `relay.provision.broker_files` writes
it, the tests and the chain demo start the real broker with it.

It is a conf.d snippet (on Debian: /etc/mosquitto/conf.d/posagent.conf). The package's main
mosquitto.conf keeps what belongs to the machine: the pid file, the log file, `persistence_location`
and the user it drops to. `local_main_conf` is that main file for a broker run by hand from one folder
(the chain demo, the tests).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

MQTT_PORT, WS_PORT = 8883, 443
AUTOSAVE_SECONDS = 1
# A till away keeps its session (the agent asks for 7 days) and its callbacks queue meanwhile. A till
# prints at most about a slip a minute in opening hours: 7 days of 12 hours is ~5,000; twice that.
MAX_QUEUED = 10_000
MAX_INFLIGHT = 100
MAX_PACKET = 64 * 1024  # a sealed callback is at most 16 KiB, a status far less


@dataclass(frozen=True)
class BrokerFiles:
    """Where the broker reads its files (paths as the broker's machine sees them)."""

    password_file: str
    acl_file: str
    certfile: str
    keyfile: str


@dataclass(frozen=True)
class BrokerConf:
    files: BrokerFiles
    chain: str | None = None  # said in the header only
    port: int = MQTT_PORT
    ws_port: int = WS_PORT
    bind: str | None = None  # listen on this address only (None: every address)
    autosave_interval: int = AUTOSAVE_SECONDS
    max_queued_messages: int = MAX_QUEUED

    def problems(self) -> list[str]:
        """What makes this config unusable, one line each, naming the option."""
        found = [f"{name}: a TCP port from 1 to 65535" for name, port in (("--port", self.port),
                 ("--ws-port", self.ws_port)) if not 0 < port < 65536]  # fmt: skip
        if self.port == self.ws_port:
            found.append("--ws-port: must differ from --port (one listener per port)")
        if self.bind is not None:
            try:
                ipaddress.ip_address(self.bind)
            except ValueError:
                found.append(f"--bind: {self.bind!r:.60} is not an IP address")
        # Mosquitto's config is one `option value` per line, split at spaces: a path with a space would be cut,
        # one with a line break would add options of its own.
        for path in (self.files.password_file, self.files.acl_file, self.files.certfile, self.files.keyfile):
            if not path.isprintable() or any(c.isspace() for c in path):
                found.append(f"{path!r:.80}: Mosquitto's config cannot name a path with spaces or control characters")
        if self.autosave_interval < 1:
            found.append("autosave_interval: at least 1 second")
        return found


def mosquitto_conf(conf: BrokerConf) -> str:
    """The snippet, every choice explained next to it. Call `conf.problems()` first."""
    files = conf.files
    chain = f" (chain {conf.chain})" if conf.chain else ""
    bind = f" {conf.bind}" if conf.bind else ""
    return f"""\
# Eclipse Mosquitto for the POS Agent fleet link{chain}, written by `posagent fleet broker-config`
# (docs/fleet.md, the broker): run the command again rather than editing this file. A conf.d snippet:
# the main mosquitto.conf keeps the pid file, the log and persistence_location (Debian's: /var/lib/mosquitto/).

# One set of accounts and one ACL for both listeners: a till logs in the same way on either port.
# (Must come before the settings it governs.)
per_listener_settings false

# Every client logs in: one account per till, one for the relay, read-only viewers.
# Both files are written by `posagent fleet provision`; reload (SIGHUP) after each run.
allow_anonymous false
password_file {files.password_file}
# A till reads only its own callbacks and writes only its own status; the relay writes callbacks and
# reads statuses; viewers read statuses. Anything else is denied.
acl_file {files.acl_file}

# Sessions, queued callbacks and retained statuses outlive a restart. A graceful stop saves everything;
# a crash (kill -9, power cut) loses what arrived since the last save, callbacks the relay had already
# confirmed to customers included: so save every {conf.autosave_interval} s, not Mosquitto's default 30 minutes.
persistence true
autosave_interval {conf.autosave_interval}

# A till that is away keeps its session as long as it asked (the agent: 7 days) and its callbacks wait
# in it. Beyond this many the broker drops that till's new callbacks without telling the relay, so the
# limit is far above what a till prints in a week (and no byte limit besides); memory goes only to
# callbacks really waiting, about 1 KiB each.
max_queued_messages {conf.max_queued_messages}
max_queued_bytes 0
# Callbacks sent to a till ahead of its acknowledgements (it acknowledges each once it is committed).
max_inflight_messages {MAX_INFLIGHT}
# Sessions that asked never to expire (MQTT 3.1.1 clean session off) go after 14 days; the agent's
# and the relay's sessions expire as they ask.
persistent_client_expiration 14d
# Nothing in the fleet link comes near this: a bigger packet is a broken or hostile client, cut off.
max_packet_size {MAX_PACKET}
# Callbacks are small and someone is waiting for each: send them at once (no Nagle delay).
set_tcp_nodelay true

# MQTT over TLS: tills and the relay (from the store, outbound to {conf.port} only).
listener {conf.port}{bind}
protocol mqtt
certfile {files.certfile}
keyfile {files.keyfile}

# MQTT over WebSockets over TLS (wss://HOST:{conf.ws_port}/mqtt): for stores whose firewall lets only HTTPS out.
listener {conf.ws_port}{bind}
protocol websockets
certfile {files.certfile}
keyfile {files.keyfile}
"""


def local_main_conf(include_dir: str, *, data_dir: str, log_file: str, user: str,
                    extra: Iterable[str] = ()) -> str:  # fmt: skip
    """What Debian's /etc/mosquitto/mosquitto.conf is to the snippet, for a broker run by hand from one folder
    (the chain demo, the tests): as `user` (no privilege drop), its database in `data_dir`, its log in a file.
    `extra` lines come after the snippet (they override it)."""
    lines = [
        "# A broker run by hand from one folder: the main config around `posagent fleet broker-config`'s snippet.",
        f"user {user}",
        f"persistence_location {data_dir.rstrip('/')}/",
        f"log_dest file {log_file}",
        f"include_dir {include_dir}",
        *extra,
    ]
    return "\n".join(lines) + "\n"
