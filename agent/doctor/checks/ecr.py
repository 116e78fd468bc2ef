"""The ECR listeners: the TCP port free (the agent is stopped) or held by this very agent; the socket's group.
And the open-card callback's port, judged the same way.

A port that is busy is asked for a `hello` with the configured token: an agent answers (or
refuses the token, which says the token file differs); anything else is another program.
"""

from __future__ import annotations

import grp
import stat
from pathlib import Path

from agent.daemon.port_owner import Holder, port_is_free, who_holds, who_holds_callback
from agent.daemon.preflight import SecretFileError, busy_problem, group_problem, read_secret_file
from agent.doctor.checks.database import service_identity
from agent.doctor.context import Context
from agent.doctor.finding import Finding, fail, ok, warn

NAME = "ecr.port"
SOCKET_NAME = "ecr.socket"
GROUP_NAME = "ecr.group"
CALLBACK_NAME = "callback.port"


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
        if ecr.unix_group:
            findings.append(_check_group(ecr.unix_socket, ecr.unix_group, ctx))
    return findings


def _check_group(path: Path, group: str, ctx: Context) -> Finding:
    who = service_identity(ctx)
    problem = group_problem(group, who)
    if problem is not None:  # the words `posagent run` refuses with
        return fail(GROUP_NAME, problem.message, problem.fix)
    gid = grp.getgrnam(group).gr_gid
    try:
        info = path.stat()
    except OSError:
        return ok(GROUP_NAME, f"the socket goes to group {group!r} ({who.name} may give it)")
    if info.st_gid != gid or stat.S_IMODE(info.st_mode) & 0o060 != 0o060:
        return warn(GROUP_NAME, f"{path} is not group {group!r} with mode 0660 (mode {stat.S_IMODE(info.st_mode):04o})",
                    "restart the agent: it sets both when it starts")  # fmt: skip
    return ok(GROUP_NAME, f"{path} belongs to group {group!r}, mode 0660")


def check_callback(ctx: Context) -> list[Finding]:
    """The open-card callback endpoint's port: free, served by this agent, or taken by another program."""
    config = ctx.agent_config
    callback = config.callback
    if callback is None:
        return [ok(CALLBACK_NAME, "no callback endpoint ([callback] not set)")]
    if config.members is None:
        return [warn(CALLBACK_NAME, "[callback] is set but [members] is not: the endpoint does not start",
                     "configure [members] (template_id), or remove [callback]")]  # fmt: skip
    where = f"{callback.host}:{callback.port}"
    if port_is_free(callback.host, callback.port):
        return [ok(CALLBACK_NAME, f"{where} is free (the agent is not running)")]
    holder = who_holds_callback(callback.host, callback.port, callback.path, ctx.network_timeout)
    if holder is Holder.AGENT:
        return [ok(CALLBACK_NAME, f"{where} is served by this agent's callback endpoint")]
    problem = busy_problem("callback.port", where, holder, callback.port)
    return [fail(CALLBACK_NAME, problem.message + ": the agent does not start while it is", problem.fix)]


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


__all__ = ["Holder", "check_callback", "check_ecr", "judge_holder", "port_is_free", "who_holds"]
