"""The status page check: off, free (the agent is stopped), served by this agent, by an agent with
another token, or a port taken by another program."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from agent.web import Changes, HttpServer, Sessions, Snapshot, StatusSite
from tests.agent.doctor.conftest import Setup
from tests.support.daemon import TOKEN, free_port


class _Source:
    async def snapshot(self) -> Snapshot:
        return Snapshot("test", 0.0, "store", True, 0.0, "gateway", 0, False)

    def slip(self, job_id: str | None) -> str | None:
        return None

    async def retry_dead_job(self, job_id: int) -> bool:
        return False

    async def test_print(self) -> str:
        return "job"

    def metrics(self) -> bytes:
        return b"posagent_agent_info 1\n"


ServePage = Callable[[str], Awaitable[None]]


@pytest.fixture
def page_port(setup: Setup) -> int:
    port = free_port()
    setup.edit_config("[status_page]\nenabled = false", f"[status_page]\nport = {port}")
    return port


@pytest.fixture
async def serve_page(page_port: int) -> AsyncIterator[ServePage]:
    servers: list[HttpServer] = []

    async def serve(token: str) -> None:
        site = StatusSite(_Source(), Sessions(token), Changes(), metrics_need_token=True)
        server = HttpServer("127.0.0.1", page_port, site.handle)
        await server.start()
        servers.append(server)

    yield serve
    for server in servers:
        await server.close()


def test_a_disabled_page_is_ok(setup: Setup) -> None:
    found = setup.findings("status_page")["status_page"]
    assert found.status.value == "OK" and "disabled" in found.message


def test_a_free_port_means_the_agent_is_stopped(setup: Setup, page_port: int) -> None:
    found = setup.findings("status_page")["status_page"]
    assert found.status.value == "OK" and "free" in found.message


async def test_served_by_this_agent_is_ok(setup: Setup, serve_page: ServePage) -> None:
    await serve_page(TOKEN)
    found = (await asyncio.to_thread(setup.findings, "status_page"))["status_page"]
    assert found.status.value == "OK" and "served by this agent" in found.message


async def test_an_agent_refusing_our_token_warns(setup: Setup, serve_page: ServePage) -> None:
    await serve_page("another-token-" + "z" * 20)
    found = (await asyncio.to_thread(setup.findings, "status_page"))["status_page"]
    assert found.status.value == "WARN" and "refuses the configured token" in found.message


@pytest.fixture
def squatter(setup: Setup) -> Iterator[int]:
    """Another program on the page's port: answers 404 to everything."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = int(server.getsockname()[1])
    setup.edit_config("[status_page]\nenabled = false", f"[status_page]\nport = {port}")
    yield port
    server.close()
    thread.join(timeout=5)


def test_a_port_taken_by_another_program_fails(setup: Setup, squatter: int) -> None:
    found = setup.findings("status_page")["status_page"]
    assert found.status.value == "FAIL" and "another program" in found.message
    assert found.fix is not None and "[status_page] port" in found.fix
