"""The HTTP shell: a threading HTTP/1.1 server around `Gateway`, the activation page, fault
injection and the loopback-only admin API. No protocol logic lives here.

Routes: POST/GET /gateway.do; GET/POST /account/openform/activecard.htm (the customer's page);
/__admin/health, /__admin/inspect, GET/PUT /__admin/faults, POST /__admin/outage,
POST /__admin/apps, POST /__admin/app_auths; certificate mode: POST /__admin/cert-apps, GET /__admin/alipay-cert,
POST /__admin/alipay-cert/rotate (cert_admin)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import activation, cert_admin
from .apis.forms import ACTIVATION_PATH
from .charsets import reply_charset
from .chunked import ChunkedError, read_chunked
from .errors import SERVICE_UNAVAILABLE, ApiError
from .faults import Action, Decision, FaultPlan
from .gateway import Gateway
from .httpparse import MAX_BODY, BadRequest, content_type_params, parse_request
from .inspection import snapshot
from .keys import KeyFormatError

log = logging.getLogger(__name__)

GATEWAY_PATH = "/gateway.do"
IMAGES_PATH = "/images/"  # where image.upload's image_url points
# What a load balancer shows when it has no healthy backend (the shape of nginx's page).
PROXY_503_PAGE = (b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
                  b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n")


class FaultSwitch:
    """The current fault plan and its RNG, swappable at run time."""

    def __init__(self, plan: FaultPlan, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._plan = plan
        self._rng = random.Random(plan.seed)

    @property
    def plan(self) -> FaultPlan:
        with self._lock:
            return self._plan

    def set(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            self._rng = random.Random(plan.seed)

    def decide(self, method: str) -> Decision:
        with self._lock:
            return self._plan.decide(method, self._clock(), self._rng)


class GatewayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway, faults: FaultSwitch) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.gateway = gateway
        self.faults = faults
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def close_connections(self) -> None:
        """Wake idle keep-alive handler threads so nothing outlives `stop()`."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GatewayHTTPServer
    timeout = 60  # an idle keep-alive connection is closed after a minute
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        self.server.track(self.connection, alive=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: request lines carry query strings, and query strings carry tokens."""

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    # -- routing --------------------------------------------------------------------------------------
    def _route(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        if body is None:
            return
        if url.path.startswith("/__admin/"):
            self._admin(url.path.removeprefix("/__admin/"), body)
            return
        if url.path.startswith(IMAGES_PATH) and self.command == "GET":
            self._image(url.path.removeprefix(IMAGES_PATH))
            return
        if url.path not in (GATEWAY_PATH, ACTIVATION_PATH):
            self._send_json(404, {"error": "not found"})
            return
        decision = self.server.faults.decide(self._method_of(url.query, body) if url.path == GATEWAY_PATH else "")
        if decision.action in (Action.OUTAGE, Action.RESET):
            self.server.gateway.counters.fault(decision.action.value)
            self._abort(reset=True)
            return
        if decision.action is Action.PROXY_5XX:
            self.server.gateway.counters.fault(decision.action.value)
            self._send(503, PROXY_503_PAGE, "text/html")
            return
        if decision.latency:
            self.server.gateway.counters.fault("latency")
            time.sleep(decision.latency)
        if url.path == ACTIVATION_PATH:
            self._activation(url.query, body)
            return
        self._gateway(url.query, body, decision)

    def _read_body(self) -> bytes | None:
        """The body (Content-Length or chunked), or None once an HTTP error has been answered: a
        framing this server cannot follow leaves the body's end unknown, so the connection closes."""
        transfer_encoding = self.headers.get("Transfer-Encoding", "").strip().lower()
        if transfer_encoding:
            self.close_connection = "Content-Length" in self.headers  # both headers: a smuggling shape
            if transfer_encoding != "chunked":
                self.close_connection = True
                self._send_json(501, {"error": f"unsupported Transfer-Encoding {transfer_encoding!r} (chunked is)"})
                return None
            try:
                return read_chunked(self.rfile, MAX_BODY)
            except ChunkedError as exc:
                self.close_connection = True
                self._send_json(exc.status, {"error": exc.message})
                return None
        raw_length = self.headers.get("Content-Length", "0").strip() or "0"
        if not raw_length.isdigit():
            self.close_connection = True
            self._send_json(400, {"error": "Content-Length must be a decimal number of bytes"})
            return None
        length = int(raw_length)
        if length > MAX_BODY:
            self.close_connection = True  # the unread body would be taken for the next request
            self._send_json(413, {"error": f"Content-Length must be between 0 and {MAX_BODY}"})
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) != length:  # the client went away mid-body: nobody to answer
            self.close_connection = True
            return None
        return body

    @staticmethod
    def _method_of(query: str, body: bytes) -> str:
        """The API method for per-method fault filters (cheap look, before full parsing)."""
        for source in (query, body[:4096].decode("utf-8", "replace")):
            for key, value in parse_qsl(source):
                if key == "method":
                    return value
        return ""

    # -- the OpenAPI gateway -----------------------------------------------------------------------
    def _gateway(self, query: str, body: bytes, decision: Decision) -> None:
        gateway = self.server.gateway
        try:
            parsed = parse_request(query, self.headers.get("Content-Type", ""), body)
        except BadRequest as exc:  # unreadable parameters: a gateway answer the client can act on
            error = ApiError("40002", exc.sub_code, exc.detail)
            reply = gateway.error_reply(exc.params, error)
            self._send(200, reply.body, f"application/json;charset={reply_charset(exc.params)}")
            return
        if decision.action is Action.ERROR:
            gateway.counters.fault("error")
            reply = gateway.error_reply(parsed.params, SERVICE_UNAVAILABLE)
        else:
            if decision.action is Action.BAD_SIGN:
                gateway.counters.fault("bad_sign")
            reply = gateway.handle(parsed, corrupt_sign=decision.action is Action.BAD_SIGN)
        if decision.action is Action.DROP:
            gateway.counters.fault("drop")
            self._abort(reset=False)
            return
        if decision.action is Action.PROCESSED_5XX:
            gateway.counters.fault(decision.action.value)
            self._send(504, b"", "text/html")
            return
        self._send(200, reply.body, f"application/json;charset={reply_charset(parsed.params)}")

    def _abort(self, *, reset: bool) -> None:
        """Close without replying; `reset` sends a TCP RST instead of a FIN."""
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _image(self, image_id: str) -> None:
        with self.server.gateway.store.reading() as db:
            row = db.execute("SELECT image_type, content FROM images WHERE image_id = ?", (image_id,)).fetchone()
        if row is None:
            self._send_json(404, {"error": "no such image"})
            return
        kind = "jpeg" if row["image_type"] in ("jpg", "jpeg") else row["image_type"]
        self._send(200, bytes(row["content"]), f"image/{kind}")

    # -- the customer's page -------------------------------------------------------------------------
    def _activation(self, query: str, body: bytes) -> None:
        gateway = self.server.gateway
        try:
            link = activation.FormLink.from_query(dict(parse_qsl(query)))
            if self.command == "GET":
                description = activation.describe(gateway.store, link)
                if "json" in self.headers.get("Accept", "") or "format=json" in query:
                    self._send_json(200, description)
                else:
                    page = activation.html_page(description, self.path)
                    self._send(200, page.encode(), "text/html;charset=utf-8")
                return
            answers = self._answers(body)
            result = activation.submit(
                gateway.store, link, answers, now=gateway.clock(), auth_code_ttl=gateway.settings.auth_code_ttl
            )
        except activation.ActivationError as exc:
            self._send_json(exc.status, {"error": exc.message})
            return
        if "json" in self.headers.get("Accept", "") or not result["callback_url"]:
            self._send_json(200, result)
        else:  # a browser: redirect like Alipay does
            self._send(302, b"", "text/plain", extra={"Location": result["callback_url"]})

    def _answers(self, body: bytes) -> dict[str, str]:
        mime, _ = content_type_params(self.headers.get("Content-Type", "") or "application/x-www-form-urlencoded")
        try:
            text = body.decode("utf-8")
            data: Any = json.loads(text) if mime == "application/json" else dict(parse_qsl(text))
        except (UnicodeDecodeError, ValueError):
            raise activation.ActivationError(400, "form answers must be UTF-8 JSON or form data") from None
        if not isinstance(data, dict):
            raise activation.ActivationError(400, "form answers must be an object")
        return {str(k): v for k, v in data.items() if isinstance(v, str)}

    # -- admin ---------------------------------------------------------------------------------------------
    def _admin(self, name: str, body: bytes) -> None:
        if not is_loopback_client(str(self.client_address[0])):
            self._send_json(403, {"error": "admin endpoints are loopback-only"})
            return
        gateway, faults = self.server.gateway, self.server.faults
        route = (self.command, name)
        try:
            payload: Any = json.loads(body) if body else {}
            if route == ("GET", "health"):
                self._send_json(
                    200, {"status": "ok", "apps": gateway.app_ids(), "alipay_public_key": gateway.public_key_pem()}
                )
            elif route == ("GET", "inspect"):
                self._send_json(200, snapshot(gateway.store, gateway.counters))
            elif route == ("GET", "faults"):
                self._send_json(200, faults.plan.to_dict())
            elif route == ("PUT", "faults"):
                faults.set(FaultPlan.from_mapping(_object(payload), now=gateway.clock()))
                self._send_json(200, faults.plan.to_dict())
            elif route == ("POST", "outage"):
                seconds = _object(payload).get("seconds", 0)
                faults.set(FaultPlan.from_mapping({"outage": seconds}, now=gateway.clock(), base=faults.plan))
                self._send_json(200, faults.plan.to_dict())
            elif route == ("POST", "apps"):
                data = _object(payload)
                gateway.register_app(str(data.get("app_id", "")), str(data.get("public_key", "")))
                self._send_json(200, {"apps": gateway.app_ids()})
            elif route == ("POST", "app_auths"):
                data = _object(payload)
                auth = gateway.authorize_isv(
                    data.get("isv_app_id", ""), data.get("auth_app_id", ""), apis=data.get("apis"),
                    expires_in=data.get("expires_in"), app_auth_token=data.get("app_auth_token"),
                )  # fmt: skip
                self._send_json(200, auth.to_dict())
            elif (cert_reply := cert_admin.route(gateway.cert_mode, self.command, name, payload)) is not None:
                self._send_json(200, cert_reply)
            else:
                self._send_json(404, {"error": f"no admin endpoint {self.command} /__admin/{name}"})
        except (ValueError, KeyFormatError) as exc:  # bad JSON, bad fault values, bad keys
            self._send_json(400, {"error": str(exc)})

    # -- replies ---------------------------------------------------------------------------------------------
    def _send_json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode(), "application/json;charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        # Status line, headers and body in ONE write: one syscall, no small-packet stalls.
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"{self.protocol_version} {status} {reason}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in (extra or {}).items()),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def is_loopback_client(host: str) -> bool:
    """127.0.0.0/8, ::1, and IPv4-mapped loopback (::ffff:127.0.0.1) on dual-stack sockets."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError("expected a JSON object")
    return payload
