"""`GatewaySimulator`: the gateway, its state and its HTTP server in one object for tests and demos.

with GatewaySimulator(apps={"2021000000000001": app_public_pem}) as sim:
    client = MyClient(sim.url, alipay_public_key=sim.alipay_public_key_pem)
    ...
    assert sim.inspect()["regressions"] == 0
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from .apis.context import Settings
from .certmode import APP_ID_PATTERN, CertFiles, CertMode
from .chinatime import utc_now
from .faults import FaultPlan
from .gateway import DEFAULT_MAX_CLOCK_SKEW, Gateway
from .inspection import snapshot
from .keys import PUBLIC_KEY_FILE, load_or_create_gateway_key, parse_public_key, public_pem
from .server import GATEWAY_PATH, FaultSwitch, GatewayHTTPServer
from .state import Store

APPS_DIR = "apps"
DEFAULT_AUTH_CODE_TTL = 300.0


class GatewaySimulator:
    def __init__(
        self,
        state_dir: Path | None = None,
        apps: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
        auth_code_ttl: float = DEFAULT_AUTH_CODE_TTL,
        faults: FaultPlan | Mapping[str, Any] | None = None,
        clock: Callable[[], float] = utc_now,
    ) -> None:
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._private_key = load_or_create_gateway_key(self.state_dir)
        self._store = Store(self.state_dir)
        self.gateway = Gateway(
            self._store,
            self._private_key,
            settings=Settings(auth_code_ttl=auth_code_ttl),
            max_clock_skew=max_clock_skew,
            clock=clock,
            cert_mode=CertMode(self._store, self.state_dir, clock=clock),
        )
        self._load_app_files()
        self.gateway.cert_mode.load_apps()  # after the .pem apps: an app's saved certificate wins
        for app_id, key in (apps or {}).items():
            self.gateway.register_app(app_id, key)
        self._faults = FaultSwitch(self._plan(faults), clock)
        self._server = GatewayHTTPServer((host, port), self.gateway, self._faults)
        bound_host, bound_port = str(self._server.server_address[0]), int(self._server.server_address[1])
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{shown_host}:{bound_port}"
        self.gateway.settings = replace(self.gateway.settings, base_url=self.base_url)
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> GatewaySimulator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="gateway-sim", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
        self._store.close()

    def __enter__(self) -> GatewaySimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- facts clients need -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.base_url + GATEWAY_PATH

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def alipay_public_key_pem(self) -> str:
        return public_pem(self._private_key.public_key())

    # -- control ------------------------------------------------------------------------------------
    def register_app(self, app_id: str, public_key_pem: str) -> None:
        """Trust an app's key; with a state dir it is also saved in DIR/apps/APP_ID.pem (survives restarts)."""
        if self.state_dir is not None and not APP_ID_PATTERN.fullmatch(app_id):
            raise ValueError("app_id must be 1-32 letters, digits, '_' or '-' (it names a file in the state dir)")
        self.gateway.register_app(app_id, public_key_pem)
        if self.state_dir is not None:
            apps_dir = self.state_dir / APPS_DIR
            apps_dir.mkdir(exist_ok=True)
            (apps_dir / f"{app_id}.pem").write_text(public_key_pem)
            (apps_dir / f"{app_id}.crt").unlink(missing_ok=True)  # one mode per app: the last registration wins

    def register_cert_app(self, app_id: str, csr_pem: str | bytes) -> CertFiles:
        """Register an app in certificate mode from its CSR: the simulator, as CA, issues the app
        certificate and returns the three files the console gives (`CertFiles.write(dir)` saves them)."""
        return self.gateway.cert_mode.register(app_id, csr_pem)

    def rotate_alipay_cert(self) -> str:
        """A new Alipay public-key certificate (new key and serial, same CA); returns its SN."""
        return self.gateway.cert_mode.rotate().sn

    def authorize_isv(
        self,
        isv_app_id: str,
        auth_app_id: str,
        *,
        apis: list[str] | None = None,
        expires_in: float | None = None,
        app_auth_token: str | None = None,
    ) -> dict[str, Any]:
        """Let ISV app `isv_app_id` call `apis` (None: all) for merchant app `auth_app_id`, until
        `expires_in` seconds from now (None: never). Returns the authorization, `app_auth_token` included."""
        auth = self.gateway.authorize_isv(
            isv_app_id, auth_app_id, apis=apis, expires_in=expires_in, app_auth_token=app_auth_token
        )
        return auth.to_dict()

    def set_faults(self, plan: FaultPlan | Mapping[str, Any] | None = None, **settings: Any) -> FaultPlan:
        """Replace the fault plan: a FaultPlan, a mapping, or keywords (`latency=0.2, error_rate=0.5`,
        `outage=5` seconds from now). No argument clears every fault."""
        merged = self._plan({**(plan or {}), **settings}) if not isinstance(plan, FaultPlan) else plan
        self._faults.set(merged)
        return merged

    @property
    def faults(self) -> FaultPlan:
        return self._faults.plan

    def outage(self, seconds: float) -> None:
        self._faults.set(FaultPlan.from_mapping({"outage": seconds}, now=self.gateway.clock(), base=self.faults))

    def inspect(self) -> dict[str, Any]:
        return snapshot(self._store, self.gateway.counters)

    # -- helpers ------------------------------------------------------------------------------------
    def _plan(self, faults: FaultPlan | Mapping[str, Any] | None) -> FaultPlan:
        if isinstance(faults, FaultPlan):
            return faults
        return FaultPlan.from_mapping(faults or {}, now=self.gateway.clock())

    def _load_app_files(self) -> None:
        if self.state_dir is None:
            return
        for path in sorted((self.state_dir / APPS_DIR).glob("*.pem")):
            parse_public_key(path.read_text())  # a broken file fails loudly at start, naming the file
            self.gateway.register_app(path.stem, path.read_text())


__all__ = ["PUBLIC_KEY_FILE", "GatewaySimulator"]
