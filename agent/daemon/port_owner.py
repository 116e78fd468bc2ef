"""Who holds a listening address: nobody, this agent (it accepts our token), another agent, or another program.

Shared by `posagent run` (refuse to start on a taken port, saying by whom), `posagent config check`
(a port held by the running agent is fine: it frees it when it stops) and the doctor.
"""

from __future__ import annotations

import contextlib
import socket
from enum import Enum
from pathlib import Path

import httpx

from agent.ecr.client import EcrClient, EcrError


class Holder(Enum):
    AGENT = "agent"  # answered hello with our token
    AGENT_OTHER_TOKEN = "agent_refused_token"  # noqa: S105 - speaks the protocol, refused our token
    OTHER = "other"  # anything else: silence, garbage, closed
    UNKNOWN = "unknown"  # busy, but we could not ask (no token to ask with)


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As asyncio's server does: a port in TIME_WAIT after the agent stopped counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def socket_answers(path: Path) -> bool:
    """Something accepts connections on this Unix socket (a stale file left by a crash does not)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def who_holds(address: tuple[str, int] | Path, token: str, timeout: float) -> Holder:
    """Ask the holder of an ECR address for a `hello` with our token."""
    try:
        if isinstance(address, tuple):
            sock = socket.create_connection(address, timeout=timeout)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(str(address))
    except OSError:
        return Holder.OTHER
    with contextlib.closing(EcrClient(sock)) as client:
        try:
            client.request("hello", {"token": token, "client": "posagent-probe"}, timeout=timeout)
        except EcrError as exc:
            return Holder.AGENT_OTHER_TOKEN if exc.code == "UNAUTHORIZED" else Holder.OTHER
        except (OSError, ValueError, TypeError):  # not JSON, not an object, closed, silent
            return Holder.OTHER
    return Holder.AGENT


# The agent's callback endpoint answers a GET without parameters with a refusal page (400) that says this.
CALLBACK_SIGNATURE = "Card not opened"


def who_holds_callback(host: str, port: int, path: str, timeout: float) -> Holder:
    """The open-card callback endpoint has no token: the agent is recognised by its refusal page."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "localhost": "127.0.0.1"}.get(host, host)
    url = f"http://[{host}]:{port}{path}" if ":" in host else f"http://{host}:{port}{path}"
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as http:
            answer = http.get(url)
    except httpx.HTTPError:
        return Holder.OTHER
    return Holder.AGENT if answer.status_code == 400 and CALLBACK_SIGNATURE in answer.text else Holder.OTHER
