"""The ECR port check against a real in-process ECR server: held by this agent, or by one with another token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from agent.ecr.events import EventLog
from agent.ecr.server import EcrServer, Router
from tests.agent.doctor.conftest import Setup, statuses
from tests.support.daemon import TOKEN

StartAgent = Callable[[str], Awaitable[EcrServer]]


@pytest.fixture
async def running_agent(setup: Setup) -> AsyncIterator[StartAgent]:
    servers: list[EcrServer] = []

    async def start(token: str) -> EcrServer:
        server = EcrServer(token=token, router=Router(), events=EventLog(epoch="e1"), agent_version="test",
                           tcp_port=setup.ecr_port, unix_path=setup.root / "ecr.sock")
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def test_port_and_socket_held_by_this_agent_are_ok(setup: Setup, running_agent: StartAgent) -> None:
    await running_agent(TOKEN)
    found = await asyncio.to_thread(setup.findings, "ecr")
    assert statuses(found) == {"ecr.port": "OK", "ecr.socket": "OK"}
    assert "held by this agent" in found["ecr.port"].message


async def test_agent_refusing_our_token_warns(setup: Setup, running_agent: StartAgent) -> None:
    await running_agent("another-token-" + "y" * 20)
    found = await asyncio.to_thread(setup.findings, "ecr")
    assert found["ecr.port"].status == "WARN" and "refuses the configured token" in found["ecr.port"].message
