"""The ECR listeners: the TCP port free (the agent is stopped) or held by this very agent.

A port that is busy is asked for a `hello` with the configured token: an agent answers (or
refuses the token, which says the token file differs); anything else is another program.
"""

from __future__ import annotations

from pathlib import Path

from agent.daemon.port_owner import Holder, port_is_free, who_holds
from agent.daemon.preflight import SecretFileError, read_secret_file
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn

NAME = "ecr.port"
SOCKET_NAME = "ecr.socket"


def judge_holder(name: str, where: str, holder: Holder) -> Finding:
    if holder is Holder.AGENT:
        return ok(name, f"{where} is held by this agent (running, accepted the token)")
    if holder is Holder.AGENT_OTHER_TOKEN:
        return warn(name, f"{where} is held by an agent that refuses the configured token",
                    "the running agent uses another token file or config: restart it (systemctl restart posagent) "
                    "or give the ECR the token it uses")  # fmt: skip
    return fail(name, f"{where} is held by another program (it does not speak the ECR protocol)",
                "find it (ss -ltnp) and stop it, or choose another [ecr] tcp_port / unix_socket")  # fmt: skip


def _token(ctx: Context) -> str | None:
    try:
        return read_secret_file(ctx.agent_config.ecr.token_file, "ecr.token_file")
    except SecretFileError:
        return None


def check_ecr(ctx: Context) -> list[Finding]:
    ecr = ctx.agent_config.ecr
    token = _token(ctx)
    findings: list[Finding] = []
    if ecr.tcp_port is None:
        findings.append(ok(NAME, "TCP listener disabled (tcp_port unset)"))
    elif port_is_free(ecr.tcp_host, ecr.tcp_port):
        findings.append(ok(NAME, f"{ecr.tcp_host}:{ecr.tcp_port} is free (the agent is not running)"))
    elif token is None:
        findings.append(warn(NAME, f"{ecr.tcp_host}:{ecr.tcp_port} is busy; who holds it is unknown "
                                   "(the token file cannot be read)", "see the key.ecr_token finding"))  # fmt: skip
    else:
        holder = who_holds((ecr.tcp_host, ecr.tcp_port), token, ctx.network_timeout)
        findings.append(judge_holder(NAME, f"{ecr.tcp_host}:{ecr.tcp_port}", holder))
    if ecr.unix_socket is not None:
        findings.append(_check_socket(ecr.unix_socket, token, ctx))
    return findings


def _check_socket(path: Path, token: str | None, ctx: Context) -> Finding:
    if not path.exists():
        if not path.parent.exists():
            return warn(SOCKET_NAME, f"{path.parent} does not exist: the agent cannot create {path.name}",
                        "systemd's RuntimeDirectory=posagent creates it; or change [ecr] unix_socket")  # fmt: skip
        return ok(SOCKET_NAME, f"{path} not in use (the agent is not running)")
    if token is None:
        return warn(SOCKET_NAME, f"{path} exists; who serves it is unknown (the token file cannot be read)",
                    "see the key.ecr_token finding")  # fmt: skip
    holder = who_holds(path, token, ctx.network_timeout)
    if holder is Holder.OTHER:
        return warn(SOCKET_NAME, f"{path} exists but nothing answers there (left by a crashed agent?)",
                    "the agent replaces it at start; remove it if another program owns it")  # fmt: skip
    return judge_holder(SOCKET_NAME, str(path), holder)


__all__ = ["Holder", "check_ecr", "judge_holder", "port_is_free", "who_holds"]
