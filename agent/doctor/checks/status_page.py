"""The status page's port: free (the agent is stopped), held by this agent (its /healthz answers and
the token opens /metrics), or taken by another program (the page and /metrics are then missing)."""

from __future__ import annotations

import httpx

from agent.daemon.port_owner import port_is_free
from agent.daemon.preflight import SecretFileError, read_secret_file
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn

NAME = "status_page"


def check_status_page(ctx: Context) -> list[Finding]:
    settings = ctx.agent_config.status_page
    if not settings.enabled:
        return [ok(NAME, "disabled ([status_page] enabled = false): no page, no /metrics")]
    # Listening on every address: ask it on loopback.
    host = {"0.0.0.0": "127.0.0.1", "localhost": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)
    where = f"{host}:{settings.port}"
    url = f"http://[{host}]:{settings.port}" if ":" in host else f"http://{where}"
    if port_is_free(settings.host, settings.port):
        return [ok(NAME, f"{where} is free (the agent is not running)")]
    try:
        token = read_secret_file(ctx.agent_config.ecr.token_file, "ecr.token_file")
    except SecretFileError:
        token = ""
    try:
        with httpx.Client(timeout=ctx.network_timeout, trust_env=False) as http:
            health = http.get(f"{url}/healthz")
            metrics = http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}) if token else None
    except httpx.HTTPError:
        health, metrics = None, None
    if health is None or health.status_code != 200 or health.text.strip() != "ok":
        return [fail(NAME, f"{where} is held by another program: the agent's status page and /metrics are missing",
                     "find it (ss -ltnp) and stop it, or choose another [status_page] port")]  # fmt: skip
    if metrics is None or metrics.status_code != 200 or "posagent_" not in metrics.text:
        return [warn(NAME, f"{url}/ is served by an agent that refuses the configured token",
                     "the running agent uses another token file or config: restart it (systemctl restart posagent)")]
    return [ok(NAME, f"{url}/ is served by this agent (the token opens it; /metrics answers)")]
