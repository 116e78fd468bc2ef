"""Every check, in report order. A check takes the Context and returns its findings.

`needs_config`: the check reads the config; with an invalid config it is not run (the `config`
finding says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.doctor.checks.app_key import check_app_key
from agent.doctor.checks.certificates import check_certificates
from agent.doctor.checks.database import check_database
from agent.doctor.checks.devices import check_camera, check_printer, check_scanners
from agent.doctor.checks.ecr import check_callback, check_ecr
from agent.doctor.checks.files import check_keys
from agent.doctor.checks.fleet import check_fleet
from agent.doctor.checks.gateway import check_clock, check_gateway, check_signature
from agent.doctor.checks.interpreter import check_interpreter
from agent.doctor.checks.permissions import check_permissions
from agent.doctor.checks.status_page import check_status_page
from agent.doctor.checks.systemd import check_systemd
from agent.doctor.context import Context
from agent.doctor.finding import Finding

CheckFunction = Callable[[Context], list[Finding]]


@dataclass(frozen=True)
class Check:
    name: str
    run: CheckFunction
    needs_config: bool = True


CHECKS: tuple[Check, ...] = (
    Check("keys", check_keys),
    Check("app_key", check_app_key),
    Check("certificates", check_certificates),
    Check("gateway", check_gateway),
    Check("clock", check_clock),
    Check("signature", check_signature),
    Check("ecr", check_ecr),
    Check("callback", check_callback),
    Check("fleet", check_fleet),
    Check("status_page", check_status_page),
    Check("database", check_database),
    Check("printer", check_printer),
    Check("scanners", check_scanners),
    Check("camera", check_camera),
    Check("permissions", check_permissions),
    Check("interpreter", check_interpreter, needs_config=False),
    Check("systemd", check_systemd, needs_config=False),
)

__all__ = ["CHECKS", "Check", "CheckFunction"]
