"""The headquarters commands of `posagent` (plugged in through the `posagent.commands` entry point, so the
agent's CLI never imports the relay):

    posagent relay run --config FILE
    posagent fleet status --config FILE [--json]
    posagent fleet provision --hq DIR --chain C --store S --till T [--broker URL] [--ca-file F]
    posagent fleet provision --hq DIR --chain C --relay [NAME] | --viewer [NAME]
    posagent fleet broker-config --hq DIR [--host NAME ...] [--port 8883] [--ws-port 443] [--make-ca]

Exit codes: 0 done; 2 bad arguments or config (one line per problem, naming the setting); 4 the broker
could not be reached (fleet status); 1 a bug.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from agent.config.schema import ConfigError
from agent.fleet.topics import TillRef, TopicError

from .config import RelayConfig, RelaySecrets, load_broker_password, load_relay_config, load_secrets, load_viewer_config
from .provision.accounts import Account, ProvisionError

# The relay's servers, the MQTT client and the status reader are imported by their commands only: every
# `posagent` command (the till's own included) registers these parsers, and should not pay for them.

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 4

log = logging.getLogger("relay")


def register(subparsers: Any) -> None:
    relay = subparsers.add_parser("relay", help="headquarters: the open-card callback relay (docs/fleet.md)")
    relay_sub = relay.add_subparsers(dest="relay_command", metavar="ACTION", required=True)
    run = relay_sub.add_parser("run", help="run a relay instance (prints its public URL first)",
                               description="Receives Alipay's open-card callbacks at the chain's public URL and "
                               "publishes each to its till over the broker. Exit codes: 0 stopped; 2 refused "
                               "(config, files, port); 1 a bug.")  # fmt: skip
    run.add_argument("--config", metavar="FILE", required=True, help="the relay's TOML config")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(handler=cmd_relay_run)

    fleet = subparsers.add_parser("fleet", help="headquarters: the chain's tills (status, provisioning)")
    fleet_sub = fleet.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    status = fleet_sub.add_parser("status", help="every store and till of the chain, sick first",
                                  description="Reads the tills' retained statuses from the broker (with the "
                                  "relay's or a viewer's account) and lists them, sick first. Exit codes: 0 listed; "
                                  "2 config; 4 the broker could not be read.")  # fmt: skip
    status.add_argument("--config", metavar="FILE", required=True,
                        help="the relay's config, or a viewer's ([chain] id and [broker] are read)")  # fmt: skip
    status.add_argument("--json", action="store_true", help="print machine-readable JSON")
    status.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                        help="read statuses for at most this long (default 10; stops 0.5 s after the last one)")
    status.set_defaults(handler=cmd_fleet_status)

    prov = fleet_sub.add_parser("provision", help="a till's (or the relay's, or a viewer's) credentials and config",
                                description=_PROVISION_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    prov.add_argument("--hq", metavar="DIR", required=True, type=Path, help="headquarters' fleet folder")
    prov.add_argument("--chain", required=True, help="the chain id (1-16 letters or digits)")
    who = prov.add_mutually_exclusive_group(required=True)
    who.add_argument("--store", help="the till's store id (with --till)")
    who.add_argument("--relay", nargs="?", const="relay", metavar="NAME", help="the relay's account (default relay)")
    who.add_argument("--viewer", nargs="?", const="viewer", metavar="NAME", help="a read-only account for "
                     "fleet status and dashboards (default viewer)")  # fmt: skip
    prov.add_argument("--till", help="the till's id within its store (with --store)")
    prov.add_argument("--broker", metavar="URL", help="mqtts://HOST:8883 or wss://HOST:443/mqtt (remembered)")
    prov.add_argument("--ca-file", metavar="F", type=Path, help="the CA the broker's certificate is signed by "
                      "(copied into the bundle; omit for a publicly trusted certificate)")  # fmt: skip
    prov.add_argument("--callback-url", metavar="URL", help="the relay's public URL (said in the till's snippet)")
    prov.add_argument("--json", action="store_true", help="print machine-readable JSON")
    prov.set_defaults(handler=cmd_fleet_provision)

    conf = fleet_sub.add_parser("broker-config", help="headquarters' Mosquitto configuration (and a private CA)",
                                description=_BROKER_CONFIG_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    conf.add_argument("--hq", metavar="DIR", required=True, type=Path, help="headquarters' fleet folder")
    conf.add_argument("--host", metavar="NAME", action="append", help="with --make-ca: a DNS name or address the "
                      "tills and the relay reach the broker by (repeat for each)")  # fmt: skip
    conf.add_argument("--port", type=int, default=8883, help="MQTT over TLS (default 8883)")
    conf.add_argument("--ws-port", type=int, default=443, help="MQTT over WebSockets over TLS (default 443)")
    conf.add_argument("--bind", metavar="ADDRESS", help="listen on this address only (default: every address)")
    conf.add_argument("--make-ca", action="store_true", help="a private CA and the broker's certificate, for a "
                      "chain without its own PKI (kept when run again)")  # fmt: skip
    conf.add_argument("--broker-dir", metavar="DIR", type=Path, help="where the broker's machine keeps copies of "
                      "the files (e.g. /etc/mosquitto/posagent); default: they are read in --hq where they are")
    conf.add_argument("--json", action="store_true", help="print machine-readable JSON")
    conf.set_defaults(handler=cmd_fleet_broker_config)


_PROVISION_HELP = """\
Writes an account's credentials at headquarters and a bundle for its machine (docs/fleet.md, provisioning):

  HQ/keys/<store>-<till>.key   the till's fleet key (the relay's [keys] dir)
  HQ/passwd, HQ/acl            the broker's password and ACL files (reload the broker afterwards)
  HQ/bundles/<name>/           the till's fleet.key, fleet_password and fleet.toml ([fleet] to paste),
                               or the relay's / viewer's password and config sections

Running it again changes nothing: the key and the password are kept. HQ/ca.pem, when `posagent fleet
broker-config --make-ca` made it, goes into every bundle unless --ca-file says otherwise. Exit codes: 0 done;
2 refused."""

_BROKER_CONFIG_HELP = """\
Writes headquarters' Mosquitto configuration for the chain (docs/fleet.md, the broker):

  HQ/broker/posagent.conf      a conf.d snippet: TLS and WebSocket-over-TLS listeners, no anonymous
                               login, HQ/passwd and HQ/acl, persistence, queues sized for tills away
                               for days; each choice explained in it
  with --make-ca:
  HQ/ca.pem, HQ/ca/ca.key      a private CA (key 0600); `posagent fleet provision` then puts ca.pem in
                               every bundle
  HQ/broker/broker.pem, .key   the broker's certificate for the --host names, and its key (0600)

Running it again keeps the CA, and the broker certificate while it fits the names and is not near its
end. Exit codes: 0 done; 2 refused."""


def _refused(source: str, exc: ConfigError) -> int:
    for problem in exc.problems:
        print(f"error: {source}: {problem}", file=sys.stderr)
    return EXIT_USAGE


# --- relay run --------------------------------------------------------------------------------------------


def cmd_relay_run(args: argparse.Namespace) -> int:
    source = str(args.config)
    try:
        config = load_relay_config(args.config)
        secrets = load_secrets(config, source)
    except ConfigError as exc:
        return _refused(exc.source, exc)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    from .app import ListenError  # noqa: PLC0415 - see the imports

    try:
        return asyncio.run(_run(config, secrets))
    except ListenError as exc:
        print(f"error: {source}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug: one line to the operator, the details in the log
        log.critical("the relay stopped on an unexpected error", exc_info=True)
        print(f"error: the relay stopped on an unexpected error ({type(exc).__name__}); this is a bug",
              file=sys.stderr)  # fmt: skip
        return EXIT_BUG


async def _run(config: RelayConfig, secrets: RelaySecrets) -> int:
    from .app import Relay  # noqa: PLC0415 - see the imports

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Relay(config, secrets) as relay:
        print(config.relay.public_url, flush=True)  # the first line: what the Alipay console must have
        metrics = f", metrics {relay.metrics_url}" if relay.metrics_url else ""
        print(f"listening on {relay.callback_url}{metrics}; broker {config.broker.address}", flush=True)
        await stop.wait()
        log.info("stopping")
    return EXIT_OK


# --- fleet status ------------------------------------------------------------------------------------------


def cmd_fleet_status(args: argparse.Namespace) -> int:
    source = str(args.config)
    try:
        config = load_viewer_config(args.config)
        password = load_broker_password(config, source)
    except ConfigError as exc:
        return _refused(exc.source, exc)
    if not 0 < args.wait <= 600:
        print("error: --wait: from 0 to 600 seconds", file=sys.stderr)
        return EXIT_USAGE
    from .status import BrokerUnavailable, collect, report_json, report_text  # noqa: PLC0415

    provisioned = _provisioned_tills(args.config)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        view = asyncio.run(collect(config, password, limit=args.wait))
    except BrokerUnavailable as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": {"message": str(exc)}}))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    rows = view.rows(provisioned)
    if args.json:
        print(json.dumps({"ok": True, **report_json(config.chain.id, rows)}, ensure_ascii=False, indent=2))
    else:
        print(report_text(config.chain.id, rows))
    return EXIT_OK


def _provisioned_tills(config_file: str) -> list[str]:
    """The tills with a key at headquarters, when the config is a relay's (its [keys] dir): never seen ones show."""
    with contextlib.suppress(ConfigError):
        from .keys import TillKeys  # noqa: PLC0415

        return TillKeys(load_relay_config(config_file).keys.dir).provisioned()
    return []


# --- fleet provision ---------------------------------------------------------------------------------------


def cmd_fleet_provision(args: argparse.Namespace) -> int:
    from .provision.files import provision  # noqa: PLC0415

    try:
        account = _account(args)
        done = provision(args.hq, args.chain, account, broker=args.broker, ca_file=args.ca_file,
                         callback_url=args.callback_url)  # fmt: skip
    except (ProvisionError, TopicError) as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": {"message": str(exc)}}))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"ok": True, "account": account.name, "role": account.role, "bundle": str(done.bundle),
                          "new_key": done.new_key, "new_password": done.new_password,
                          "files": [str(f) for f in done.files], "next": done.notes}, indent=2))  # fmt: skip
        return EXIT_OK
    kept = "kept its key and password" if not (done.new_key or done.new_password) else (
        "new " + " and ".join(w for w, new in (("key", done.new_key), ("password", done.new_password)) if new))
    print(f"provisioned {account.role} {account.name} of chain {args.chain} ({kept})")
    print(f"bundle: {done.bundle}")
    for note in done.notes:
        print(f"next: {note}")
    return EXIT_OK


# --- fleet broker-config -----------------------------------------------------------------------------------


def cmd_fleet_broker_config(args: argparse.Namespace) -> int:
    from .provision.broker_files import write_broker_config  # noqa: PLC0415

    try:
        done = write_broker_config(args.hq, hosts=args.host, port=args.port, ws_port=args.ws_port, bind=args.bind,
                                   make_ca_files=args.make_ca, broker_dir=args.broker_dir)  # fmt: skip
    except ProvisionError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": {"message": str(exc)}}))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    until = done.certificate_until.date().isoformat() if done.certificate_until else None
    if args.json:
        print(json.dumps({"ok": True, "config": str(done.conf_file), "port": done.conf.port,
                          "ws_port": done.conf.ws_port, "ca_file": str(done.ca_file) if done.ca_file else None,
                          "new_ca": done.new_ca, "certificate": str(done.certificate) if done.certificate else None,
                          "certificate_names": done.certificate_names, "certificate_until": until,
                          "new_certificate": done.new_certificate, "files": [str(f) for f in done.files],
                          "next": done.notes}, indent=2))  # fmt: skip
        return EXIT_OK
    print(f"wrote {done.conf_file}: MQTT over TLS on port {done.conf.port}, MQTT over WebSockets over TLS on port "
          f"{done.conf.ws_port}")  # fmt: skip
    if done.ca_file is not None:
        print(f"CA: {done.ca_file} ({'new' if done.new_ca else 'kept'})")
    if done.certificate is not None:
        print(f"broker certificate: {done.certificate} for {done.certificate_names} "
              f"({'new' if done.new_certificate else 'kept'}, valid until {until})")  # fmt: skip
    for note in done.notes:
        print(f"next: {note}")
    return EXIT_OK


def _account(args: argparse.Namespace) -> Account:
    if args.store is not None or args.till is not None:
        if args.store is None or args.till is None:
            raise ProvisionError("a till needs both --store and --till")
        try:
            return Account.for_till(TillRef(args.chain, args.store, args.till))
        except TopicError as exc:
            raise ProvisionError(f"--chain/--store/--till: {exc}") from None
    if args.relay is not None:
        _check_chain(args.chain)
        return Account.service(args.relay, "relay")
    _check_chain(args.chain)
    return Account.service(args.viewer, "viewer")


def _check_chain(chain: str) -> None:
    try:
        TillRef(chain, "x", "x")
    except TopicError:
        raise ProvisionError("--chain: 1-16 letters or digits") from None
