"""Run the checks in order; never crash: a check that raises is itself a FAIL finding."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path

from agent.config import ConfigError, load_config
from agent.config.load import config_path
from agent.doctor.checks import CHECKS, Check
from agent.doctor.context import Context
from agent.doctor.finding import Finding, Status, fail, ok

CHECK_NAMES: tuple[str, ...] = ("config", *(check.name for check in CHECKS))


@dataclass(frozen=True)
class Report:
    config_path: Path
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return all(f.status is not Status.FAIL for f in self.findings)

    def counts(self) -> dict[str, int]:
        return {status.value: sum(f.status is status for f in self.findings) for status in Status}

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "config": str(self.config_path), "counts": self.counts(),
                "findings": [f.to_json() for f in self.findings]}  # fmt: skip


def load(ctx: Context) -> tuple[Context, Finding]:
    """The `config` finding, and the context with the config when it is valid."""
    try:
        config = load_config(ctx.config_path)
    except ConfigError as exc:
        problems = "; ".join(p.message if p.key == "(file)" else str(p) for p in exc.problems) or str(exc)
        return ctx, fail("config", f"{ctx.config_path}: {problems}",
                         "fix what is named above (docs/configuration.md explains each setting); the other checks "
                         "need a valid config")  # fmt: skip
    return replace(ctx, config=config), ok("config", f"{ctx.config_path} is valid")


def run_check(check: Check, ctx: Context) -> list[Finding]:
    try:
        return check.run(ctx)
    except Exception as exc:  # a broken check must not hide the others
        return [fail(check.name, f"the check itself failed: {type(exc).__name__}: {exc}",
                     "report this to the agent's developers with the doctor's output")]  # fmt: skip


def run_doctor(
    path: str | Path | None = None,
    *,
    only: Collection[str] = (),
    clock: Callable[[], float] = time.time,
    context: Context | None = None,
) -> Report:
    """Every check (or `only` these names), config first. Never raises for a broken set-up.

    Blocking (sockets, devices, one asyncio.run for the signed probe): from async code, call it
    through asyncio.to_thread.
    """
    ctx = context or Context(config_path=config_path(path), clock=clock)
    ctx, config_finding = load(ctx)
    findings: list[Finding] = []
    if not only or "config" in only or ctx.config is None:  # an invalid config explains any skipped check
        findings.append(config_finding)
    for check in CHECKS:
        if only and check.name not in only:
            continue
        if check.needs_config and ctx.config is None:
            continue
        findings.extend(run_check(check, ctx))
    return Report(ctx.config_path, findings)
