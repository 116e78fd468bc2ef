"""`posagent run`: the agent as a daemon.

Start order: state on disk first (database, outbox, sales to resume), then the gateway client and
connectivity monitor, then the ECR listeners, then READY to systemd. Stop order is the reverse:
stop accepting, let calls in progress finish (their state is on disk either way), close devices and
files. A second SIGTERM/SIGINT forces the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
import os
import resource
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.alipay import AlipayClient, Timeouts
from agent.codes import CodeClass
from agent.config import AgentConfig, Problem, alipay_cert_store, load_credentials
from agent.ecr.events import EventLog
from agent.ecr.origin_store import OriginStore, store_path
from agent.ecr.server import EcrServer, Router
from agent.ecr.websocket import WebSocketListener
from agent.fleet.messages import PAYLOAD_KEY_LABEL, CallbackMessage, TillStatus
from agent.guard import FailureThrottle
from agent.jobs import card_authorize, card_open, loyalty, reversals
from agent.members import out_string
from agent.members.callback_limits import CallbackLimits
from agent.members.service import MemberService, MemberSettings
from agent.members.store import MemberStore
from agent.sales.machine import Sale
from agent.sales.service import PaymentService, PaymentSettings
from agent.sales.store import SaleStore
from agent.storage import database_path, is_storage_full
from agent.web import AllowedHosts, Changes, HttpServer, Sessions, StatusSite, status_server
from drivers.printer import PrintJob
from offline_queue import Caps, CorruptDatabase, Dispatcher, JobEvent, KindPolicy, Outbox, OutboxError, load_key_file

from .callback import CallbackServer
from .connectivity import ConnectivityMonitor
from .devices import Devices, Scan
from .fleet_link import Verdict, deliver_callback, link_settings
from .fleet_link.settings import till_of
from .fleet_link.status import till_status
from .metrics import AgentMetrics
from .ops import Operations, print_job_view, sale_view
from .port_owner import Holder, who_holds
from .preflight import (
    PROBE_TIMEOUT,
    StartRefused,
    disk_full_text,
    listen_problem,
    read_secret_file,
)
from .recent_log import RecentLog
from .status_page import AgentStatus
from .systemd import Notifier

if TYPE_CHECKING:
    from .fleet_link import FleetLink

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0


def agent_version() -> str:
    try:
        return version("alipay-pos-agent")
    except PackageNotFoundError:
        return "dev"


class DatabaseUnusable(OutboxError):
    """The state files cannot be opened or written (disk full, permissions): exit code 3, one line."""


def auth_code_lifetime_of(config: AgentConfig) -> float:
    return config.members.auth_code_lifetime_seconds if config.members else 300.0


def outbox_policies(auth_code_lifetime: float = 300.0) -> dict[str, KindPolicy]:
    """Each job kind's retry, age and ordering policy (the daemon's, and `posagent queue recover`'s).
    Payment reversals are essential: never refused at a cap, and sent before any other kind (the
    others take turns)."""
    return {loyalty.KIND: loyalty.POLICY, card_open.KIND: card_open.POLICY,
            reversals.KIND: replace(reversals.POLICY, essential=True),
            card_authorize.KIND: card_authorize.policy(auth_code_lifetime)}  # fmt: skip


MIN_OPEN_FILES = 8192


def raise_open_file_limit() -> None:
    """The soft limit on open files up to the hard one: a flood of connections must not starve the database."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    with contextlib.suppress(ValueError, OSError):
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    if soft != resource.RLIM_INFINITY and soft < MIN_OPEN_FILES:
        log.warning("only %d open files allowed (LimitNOFILE): a flood of connections could exhaust them", soft)


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.version = agent_version()
        self.started_at = time.time()
        self.notifier = Notifier()
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.changes = Changes()  # the status page's long polls wait on this
        self.recent_log = RecentLog(on_record=self._changed_from_any_thread)
        self._ecr_count = 0
        self.web: HttpServer | None = None
        self.websocket: WebSocketListener | None = None  # [ecr] websocket_port: web POS pages
        self.token_guesses = FailureThrottle()  # wrong ECR tokens, counted together at the socket and the page
        self._ecr_serving = False
        self.fleet: FleetLink | None = None

    @property
    def database_path(self) -> Path:
        return database_path(self.config.paths.state_dir)

    async def start(self) -> None:
        config = self.config
        raise_open_file_limit()  # held wrong-token answers cost one file each (agent.guard)
        self._loop = asyncio.get_running_loop()
        logging.getLogger().addHandler(self.recent_log)  # start-up warnings belong on the status page too
        token = read_secret_file(config.ecr.token_file, "ecr.token_file")
        cert_store = alipay_cert_store(config.paths.state_dir)  # certificate mode: Alipay's rotated certificates
        credentials = load_credentials(config.alipay, cert_store=cert_store)
        notice = credentials.cert_mode.stand_in_notice() if credentials.cert_mode else None
        if notice:  # it works, but the next start without the state dir would not: the file wants replacing
            log.warning("alipay.alipay_cert_file: %s; replace the file with the current one from the console", notice)
        # In fleet mode the out_string MAC key comes from the fleet key, so headquarters' relay can check it.
        fleet_keys = load_key_file(config.fleet.key_file) if config.fleet is not None else None
        fleet_password = (read_secret_file(config.fleet.password_file, "fleet.password_file")
                          if config.fleet is not None else None)  # fmt: skip

        self._open_state()

        timeouts = Timeouts(connect=config.alipay.connect_timeout, read=config.alipay.read_timeout)
        self.client = AlipayClient(credentials, config.alipay.gateway, timeouts=timeouts, observer=self._observe_call,
                                   cert_sink=cert_store.save)  # fmt: skip
        self.connectivity = ConnectivityMonitor(self.client.gateway_url)

        self.events = EventLog()
        router = Router()
        self.server = EcrServer(
            token=token, router=router, events=self.events, agent_version=self.version,
            tcp_host=config.ecr.tcp_host if config.ecr.tcp_port is not None else None, tcp_port=config.ecr.tcp_port,
            unix_path=config.ecr.unix_socket, unix_group=config.ecr.unix_group, on_connections=self._ecr_connections,
            throttle=self.token_guesses,
        )  # fmt: skip
        self.payments = PaymentService(
            self.client, self.sales, reversals.OutboxReversals(self.outbox),
            PaymentSettings(store_id=config.store.id, till_id=config.store.till_id,
                            deadline_seconds=config.payments.deadline_seconds,
                            query_interval=config.payments.query_interval_seconds),
            online=lambda: self.connectivity.online, on_change=self._sale_changed,
        )  # fmt: skip
        self.members: MemberService | None = None
        handlers = {loyalty.KIND: loyalty.handler(self.client), card_open.KIND: card_open.handler(self.client),
                    reversals.KIND: reversals.handler(self.client, self.payments.reversal_confirmed)}
        if config.members is not None:
            m = config.members
            self.members = MemberService(self.client, self.outbox, self.member_store, MemberSettings(
                template_id=m.template_id, app_id=config.alipay.app_id, store_id=config.store.id,
                till_id=config.store.till_id, store_name=config.store.name, callback_url=m.callback_url,
                level=m.level, initial_points=m.initial_points, initial_balance=m.initial_balance,
                valid_days=m.valid_days, activation_refresh_seconds=m.activation_refresh_hours * 3600,
                lookup_timeout=m.lookup_timeout, offline_slip_valid_seconds=m.offline_slip_valid_days * 86400),
                out_string_key=(fleet_keys or load_key_file(config.outbox.key_file)).derive(
                    out_string.KEY_LABEL))  # fmt: skip
            handlers[card_authorize.KIND] = card_authorize.handler(self.client, self.outbox, self.members.card_values)
        self.dispatcher = Dispatcher(
            self.outbox, handlers,
            concurrency=config.outbox.concurrency, rate_limit=config.outbox.calls_per_second,
            done_retention=config.outbox.done_retention_days * 86400,
            dead_retention=config.outbox.dead_retention_days * 86400,
        )  # fmt: skip
        self.devices = Devices(config, on_scan=self._scanned, on_device=self._device_changed,
                               on_print=self._print_changed)  # fmt: skip
        self.ops = Operations(payments=self.payments, outbox=self.outbox, devices=self.devices, status=self.status,
                              members=self.members, store_name=config.store.name)  # fmt: skip
        self.ops.register(router)
        if config.fleet is not None and fleet_keys is not None and fleet_password is not None:
            from .fleet_link.client import FleetLink  # noqa: PLC0415 - paho-mqtt: only on tills with a fleet link

            settings = link_settings(config, password=fleet_password, payload_key=fleet_keys.derive(PAYLOAD_KEY_LABEL))
            self.fleet = FleetLink(settings, deliver=self._deliver_callback, status=self._fleet_status)
        fleet = self.fleet
        self.metrics = AgentMetrics(outbox_stats=self.outbox.stats, devices=self.devices.statuses,
                                    ecr_connections=lambda: len(self.server.connections), version=self.version,
                                    fleet=(lambda: fleet.state) if fleet is not None else None)  # fmt: skip
        self.status_source = AgentStatus(self, self.recent_log, self.metrics.render)
        self.outbox.subscribe(self._job_changed)
        self.connectivity.subscribe(self._network_changed)
        self.connectivity.when_first_reachable(self.dispatcher.wake)  # backoffs of a previous process

        await self.devices.start()  # before the ECR listens: a till that connects finds its devices' state
        self.callback: CallbackServer | None = None
        if config.callback is not None and self.members is not None:
            limits = CallbackLimits(per_source_per_minute=config.callback.per_source_per_minute,
                                    total_per_minute=config.callback.total_per_minute)
            self.callback = CallbackServer(config.callback.host, config.callback.port, config.callback.path,
                                           self.members, limits=limits)  # fmt: skip
            await self._start_callback(token)
        await self._start_ecr(token)  # a taken port (the preflight looked, but time passed): one-line refusal
        self.web = await self._start_status_page(token)
        self.connectivity.start()
        self._dispatching = asyncio.create_task(self.dispatcher.run(), name="outbox dispatcher")
        if self.fleet is not None:  # outbound only: nothing here can fail the start
            await self.fleet.start()
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
        if self.members is not None:
            self._tasks.append(asyncio.create_task(self._refresh_activation_url(), name="activation URL"))
        if self.notifier.watchdog_seconds:
            self._tasks.append(asyncio.create_task(self._watchdog(self.notifier.watchdog_seconds), name="watchdog"))
        resumed = self.payments.resume()
        where = self.server.tcp_address
        log.info("ready: ECR on %s%s; %d sale(s) resumed", f"{where[0]}:{where[1]}" if where else "(no TCP)",
                 f" and {config.ecr.unix_socket}" if config.ecr.unix_socket else "", resumed)  # fmt: skip
        self.notifier.ready(f"serving the ECR; {resumed} sale(s) resumed")

    def _open_state(self) -> None:
        config = self.config
        try:
            config.paths.state_dir.mkdir(parents=True, exist_ok=True)
            self.outbox = Outbox.open(
                self.database_path, key_file=config.outbox.key_file,
                policies=outbox_policies(auth_code_lifetime_of(config)),
                caps=Caps(max_pending=config.outbox.max_pending,
                          max_db_bytes=config.outbox.max_db_megabytes * 1024 * 1024),
            )  # fmt: skip
            self.sales = SaleStore(self.database_path)
            self.member_store = MemberStore(self.database_path)
        except CorruptDatabase:
            raise  # moved aside and kept: its own message says where
        except (OutboxError, sqlite3.Error, OSError, RuntimeError) as exc:  # RuntimeError: a newer schema
            if is_storage_full(exc):
                raise DatabaseUnusable(f"{disk_full_text(self.database_path)}: {self.database_path} cannot be "
                                       "written") from None  # fmt: skip
            raise DatabaseUnusable(f"{self.database_path}: {exc}") from None

    async def _start_callback(self, token: str) -> None:
        assert self.callback is not None and self.config.callback is not None
        cb = self.config.callback
        where = f"{cb.host}:{cb.port}"
        try:
            await self.callback.start()
        except OSError as exc:
            holder = Holder.OTHER  # the callback has no token to ask with: the preflight's probe said more
            raise StartRefused([listen_problem("callback.port", where, exc, holder, cb.port)]) from None

    async def _start_ecr(self, token: str) -> None:
        """The ECR listeners; a failure is a one-line refusal naming the setting, never a traceback."""
        ecr = self.config.ecr
        websocket_started = False
        try:
            await self.server.start()
            if ecr.websocket_port is not None:
                self.websocket = WebSocketListener(self.server, OriginStore(store_path(self.config.paths.state_dir)),
                                                   ecr.websocket_port)  # fmt: skip
                await self.websocket.start()
                websocket_started = True
            self._ecr_serving = True
        except OSError as exc:
            await self.server.stop_accepting()  # not close(): it would unlink a socket another agent serves
            unix = str(ecr.unix_socket) if ecr.unix_socket is not None else None
            if unix is not None and exc.filename == unix:  # chmod/chown of the socket file we just made
                with contextlib.suppress(OSError):
                    os.unlink(unix)
                if ecr.unix_group and exc.errno == errno.EPERM:
                    problem = Problem("ecr.unix_group", f"cannot give {unix} to group {ecr.unix_group!r}: "
                                      f"{exc.strerror}", "is the service user in the group? does the unit's "
                                      "SystemCallFilter= allow @chown? (deploy/install.sh installs one that does)")
                else:
                    problem = Problem("ecr.unix_socket", f"cannot set up {unix}: {exc.strerror}")
            elif self.websocket is not None and not websocket_started:
                problem = listen_problem("ecr.websocket_port", f"127.0.0.1:{ecr.websocket_port}", exc, Holder.OTHER,
                                         ecr.websocket_port)  # fmt: skip
            elif exc.errno == errno.EADDRINUSE and ecr.tcp_port is not None:
                address = (ecr.tcp_host, ecr.tcp_port)
                holder = await asyncio.to_thread(who_holds, address, token, PROBE_TIMEOUT)
                problem = listen_problem("ecr.tcp_port", f"{ecr.tcp_host}:{ecr.tcp_port}", exc, holder, ecr.tcp_port)
            else:
                where = " and ".join(w for w in (f"{ecr.tcp_host}:{ecr.tcp_port}" if ecr.tcp_port is not None
                                                 else None, unix) if w)  # fmt: skip
                problem = listen_problem("ecr", where, exc, Holder.OTHER, None)
            raise StartRefused([problem]) from None

    async def _start_status_page(self, token: str) -> HttpServer | None:
        settings = self.config.status_page
        if not settings.enabled:
            return None
        hosts = AllowedHosts.for_listener(settings.host, allow_remote=settings.allow_remote,
                                          names=settings.allowed_hosts)  # fmt: skip
        site = StatusSite(self.status_source, Sessions(token, throttle=self.token_guesses), self.changes,
                          metrics_need_token=settings.metrics_need_token, hosts=hosts)  # fmt: skip
        web = status_server(site, settings.host, settings.port)
        try:
            await web.start()
        except OSError as exc:  # the till works without its status page: say so, go on
            log.error("status page not started on %s:%d: %s (is another program using the port?)",
                      settings.host, settings.port, exc.strerror or exc)  # fmt: skip
            return None
        log.info("status page on http://%s:%d/", settings.host, web.address[1] if web.address else settings.port)
        return web

    async def abort_start(self) -> None:
        """Close what a start that failed half-way had opened (files, sockets, the HTTP client)."""
        closers: list[Callable[[], Awaitable[object] | object]] = []
        for name in ("web", "callback"):
            if (server := getattr(self, name, None)) is not None:
                closers.append(server.close)
        if self._ecr_serving:  # only then is the socket file ours to remove
            closers.append(self.server.close)
        for name in ("fleet", "devices", "connectivity"):
            if (part := getattr(self, name, None)) is not None:
                closers.append(part.stop)
        for name in ("client",):
            if (client := getattr(self, name, None)) is not None:
                closers.append(client.aclose)
        for name in ("outbox", "sales", "member_store"):
            if (store := getattr(self, name, None)) is not None:
                closers.append(store.close)
        for close in closers:
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # the start failed already: say why it failed, not this
                log.debug("closing after a failed start", exc_info=True)
        logging.getLogger().removeHandler(self.recent_log)

    async def stop(self) -> None:
        self.notifier.stopping()
        log.info("stopping: no new ECR connections; finishing calls in progress")
        if self.web is not None:
            await self.web.close()
        if self.fleet is not None:  # no new callbacks while stopping; the broker keeps them until the next start
            await self.fleet.stop()
        await self.server.stop_accepting()
        await self.payments.close()
        self.dispatcher.stop()
        for task in self._tasks:
            task.cancel()
        try:
            await asyncio.wait_for(self._dispatching, STOP_GRACE_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            log.warning("outbox calls still running after %.0f s: they resume at the next start", STOP_GRACE_SECONDS)
        except Exception:
            log.exception("the outbox dispatcher failed")
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.close()
        if self.callback is not None:
            await self.callback.close()
        await self.devices.stop()
        await self.connectivity.stop()
        await self.client.aclose()
        self.outbox.close()
        self.sales.close()
        self.member_store.close()
        log.info("stopped")
        logging.getLogger().removeHandler(self.recent_log)

    def status(self) -> dict[str, Any]:
        stats = self.outbox.stats()
        active = self.payments.blocking() or self.sales.active()  # the sale in play before one being reversed
        return {
            "agent": {"version": self.version, "uptime_seconds": round(time.time() - self.started_at, 1),
                      "epoch": self.events.epoch},
            "network": self.connectivity.status(),
            "outbox": {"counts": stats.counts, "oldest_pending_age": stats.oldest_pending_age,
                       "db_bytes": stats.db_bytes},
            "active_sale": sale_view(active[0]) if active else None,
            "devices": self.devices.statuses(),
            "ecr_connections": len(self.server.connections),
            "fleet": self.fleet.state.view() if self.fleet is not None else None,
        }  # fmt: skip

    # --- events ---------------------------------------------------------------------------------

    def _changed(self) -> None:
        self.changes.bump()
        if self.fleet is not None:
            self.fleet.notify_change()

    def _changed_from_any_thread(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._changed)

    # --- the fleet link -------------------------------------------------------------------------

    def _deliver_callback(self, message: CallbackMessage) -> Verdict:
        """A callback from headquarters' relay: the member service's own path (a worker thread)."""
        return deliver_callback(self.members, message, time.time())

    async def _fleet_status(self) -> TillStatus:
        stats = await asyncio.to_thread(self.outbox.stats)
        view = {"network": self.connectivity.status(), "devices": self.devices.statuses(),
                "outbox": {"counts": stats.counts, "oldest_pending_age": stats.oldest_pending_age}}  # fmt: skip
        problems = self.recent_log.rows(limit=1)
        return till_status(till_of(self.config), view, version=self.version, at=time.time(),
                           last_error=problems[0].message if problems else None)  # fmt: skip

    def _ecr_connections(self, count: int) -> None:
        if count > self._ecr_count:
            self.metrics.ecr_connection_opened()
        self._ecr_count = count
        self._changed()

    def _observe_call(self, method: str, outcome: str, seconds: float) -> None:
        self.metrics.alipay_call(method, outcome, seconds)
        if outcome == "unreachable":
            self.connectivity.report(False)
        elif outcome in ("no_answer", "unverified_response"):
            self.connectivity.suspect()  # sent, and nothing Alipay signed came back: probe now
        else:
            self.connectivity.report(True)  # Alipay answered, whatever it said

    def _sale_changed(self, sale: Sale) -> None:
        self.server.publish("sale.updated", {"sale": sale_view(sale)})

    def _scanned(self, scan: Scan) -> None:
        self.server.publish("scan", scan.event_body())
        self.metrics.scan(scan.classification.kind.value, scan.device)
        self.status_source.scanned(scan)
        self._changed()
        if scan.classification.kind is CodeClass.MEMBER_CARD:
            for sale in self.payments.blocking():  # a member card shown during a sale joins it
                with contextlib.suppress(Exception):
                    self.payments.attach_member(sale.sale_id, scan.code)
        if scan.classification.kind is CodeClass.ALIPAY_PAYMENT:
            # A payment code scanned while a sale waits for one pays that sale.
            waiting = [s for s in self.sales.active() if s.state.value == "waiting_for_code"]
            code = self.devices.scans.take_payment_code(scan.scan_id) if waiting else None
            if waiting and code is not None:
                try:
                    self.payments.attach_code(waiting[0].sale_id, code)
                except Exception as exc:
                    log.warning("scan %s could not pay sale %s: %s", scan.scan_id, waiting[0].sale_id, exc)

    def _device_changed(self, state: dict[str, Any]) -> None:
        self.server.publish("device.status", state)
        self._changed()

    def _print_changed(self, job: PrintJob) -> None:
        self.ops.print_changed(job)  # first: a slip's "printing" is recorded before its bytes go out
        self.server.publish("print.updated", {"job": print_job_view(job)})
        if job.state.final:
            self.metrics.print_job(job.kind, job.state.value)
        self._changed()

    def _network_changed(self, online: bool) -> None:
        if online:
            self.dispatcher.wake()
        self.payments.network_changed(online)
        self.server.publish("network.status", self.connectivity.status())
        self._changed()

    def _job_changed(self, event: JobEvent) -> None:
        # The outbox calls from its writer thread; events are published on the loop.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._job_event, event)

    def _job_event(self, event: JobEvent) -> None:
        body = {"job_id": event.job_id, "kind": event.kind, "state": event.state.value, "reason": event.reason}
        self.server.publish("outbox.status", body)
        self._changed()
        if event.state.value == "dead":  # a technician has to look: retry once the cause is fixed
            log.warning("outbox %s job %s gave up: %s", event.kind, event.job_id, event.reason or "no reason given")
        if event.state.value in ("done", "dead"):
            task = asyncio.ensure_future(self._job_finished(event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _job_finished(self, event: JobEvent) -> None:
        """Flow events for the ECR when a must-not-lose call ends."""
        job = await asyncio.to_thread(self.outbox.get, event.job_id)
        result = job.result if isinstance(job.result, dict) else {}
        if event.kind == card_open.KIND and event.state.value == "done":
            if self.members is not None:
                self.members.card_opened(result)
            self.server.publish("member.opened", {"card_no": result.get("card_no"),
                                                  "job_id": result.get("enrollment_id")})  # fmt: skip
        elif event.kind in (card_open.KIND, card_authorize.KIND) and event.state.value == "dead":
            enrollment = job.payload.get("enrollment_id") if job.payload else None
            self.server.publish("member.open_failed", {"job_id": enrollment, "reason": event.reason or job.last_error})
        elif event.kind == loyalty.KIND:
            payload = job.payload or {}
            self.server.publish("loyalty.updated", {"update_id": payload.get("update_id"),
                                                    "card_no": payload.get("card_no"), "state": event.state.value,
                                                    "reason": event.reason})  # fmt: skip

    async def _refresh_activation_url(self) -> None:
        assert self.members is not None and self.config.members is not None
        template_id = self.config.members.template_id
        while True:
            cached = self.member_store.activation_url(template_id)
            age = time.time() - cached[1] if cached else float("inf")
            if age >= self.members.settings.activation_refresh_seconds:
                try:
                    await self.members.refresh_activation_url(template_id)
                except Exception as exc:  # offline: the cached URL keeps serving enrollments
                    log.warning("activation URL not refreshed (%s); retrying in a minute", exc)
                    await asyncio.sleep(60)
                    continue
            await asyncio.sleep(min(3600.0, self.members.settings.activation_refresh_seconds))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.ecr.heartbeat_seconds)
            self.server.publish("heartbeat", {"time": time.time()})

    async def _watchdog(self, interval: float) -> None:
        # Pinged from the event loop itself: a blocked loop stops the pings and systemd restarts us.
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval / 2)


async def serve(config: AgentConfig) -> int:
    agent = Agent(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            log.warning("second signal: exiting now")
            os._exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await agent.start()
    except BaseException:
        await agent.abort_start()
        raise
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await agent.stop()
    return 0
