"""A small HTTP control endpoint for a running printer simulator (loopback only by default).

GET /state                      -> {"paper": "ok", "cover_open": false, ..., "online": true}
PUT /state {"paper": "end"}     -> the new state (400 with a message for a bad field or value)
GET /jobs                       -> [{"seq": 1, "png": ..., "qr": [...], ...}, ...]
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hardware_sim.printer.device import SimulatedPrinter, StateError

_MAX_BODY = 64 * 1024


class AdminServer:
    def __init__(self, printer: SimulatedPrinter, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"printer": printer})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="printer-admin", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()  # waits for serve_forever: only when it runs
            self._thread.join(timeout=5)
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    printer: SimulatedPrinter

    def do_GET(self) -> None:
        if self.path == "/state":
            self._reply(200, self.printer.state())
        elif self.path == "/jobs":
            self._reply(200, [record.to_json() for record in self.printer.jobs()])
        else:
            self._reply(404, {"error": f"no such resource {self.path!r}: try /state or /jobs"})

    def do_PUT(self) -> None:
        if self.path != "/state":
            self._reply(404, {"error": "only /state can be changed"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= _MAX_BODY:
            self._reply(400, {"error": "send a JSON object body"})
            return
        try:
            changes = json.loads(self.rfile.read(length))
            if not isinstance(changes, dict):
                raise StateError("the body must be a JSON object")
            self._reply(200, self.printer.set_state(**changes))
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError and StateError are ValueErrors
            self._reply(400, {"error": str(exc)})

    do_POST = do_PUT

    def _reply(self, status: int, body: Any) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and the CLI's stdout stay readable
