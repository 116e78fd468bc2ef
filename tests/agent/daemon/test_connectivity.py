"""The connectivity monitor: what counts as "Alipay reachable", and how fast an outage is noticed."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from agent.daemon.connectivity import ConnectivityMonitor


async def answering(status_line: bytes) -> asyncio.base_events.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(status_line + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def resetting() -> asyncio.base_events.Server:
    """Accepts, reads the request, then resets: Alipay's side failing, not the store's line."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def url_of(server: asyncio.base_events.Server) -> str:
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/gateway.do"


@pytest.fixture
async def servers() -> AsyncIterator[list[asyncio.base_events.Server]]:
    started: list[asyncio.base_events.Server] = []
    yield started
    for server in started:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("status_line", "online"),
    [
        (b"HTTP/1.1 200 OK", True),
        (b"HTTP/1.1 404 Not Found", True),  # the front door answered
        (b"HTTP/1.1 502 Bad Gateway", False),
        (b"HTTP/1.1 503 Service Unavailable", False),  # a load balancer with no healthy backend
        (b"HTTP/1.1 504 Gateway Time-out", False),
    ],
)
async def test_a_probe_counts_only_real_answers_as_reachable(
    servers: list[asyncio.base_events.Server], status_line: bytes, online: bool
) -> None:
    servers.append(await answering(status_line))
    assert await ConnectivityMonitor(url_of(servers[0]), timeout=2).probe() is online


async def test_a_reset_or_a_refused_connection_is_unreachable(servers: list[asyncio.base_events.Server]) -> None:
    servers.append(await resetting())
    assert await ConnectivityMonitor(url_of(servers[0]), timeout=2).probe() is False
    with socket.socket() as bound:  # bound, not listening: refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        assert await ConnectivityMonitor(f"http://127.0.0.1:{port}/", timeout=2).probe() is False


async def test_a_call_without_an_answer_makes_the_monitor_probe_at_once(
    servers: list[asyncio.base_events.Server],
) -> None:
    healthy = True
    probes = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal probes
        await reader.readuntil(b"\r\n\r\n")
        probes += 1
        if healthy:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
        else:
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    servers.append(server)
    flips: list[bool] = []
    # The scheduled probe is an hour away: only `suspect()` can make the monitor notice in this test.
    monitor = ConnectivityMonitor(url_of(server), online_interval=3600, offline_interval=3600, min_gap=0.05)
    monitor.subscribe(flips.append)
    monitor.start()
    try:
        for _ in range(200):  # the first probe
            if probes:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        assert probes == 1 and monitor.online and flips == []
        healthy = False  # Alipay starts resetting connections
        monitor.suspect()  # a real call was sent and got no answer
        for _ in range(200):
            if not monitor.online:
                break
            await asyncio.sleep(0.05)
        assert monitor.online is False and flips == [False]
    finally:
        await monitor.stop()


async def test_report_flips_state_and_tells_listeners_once_per_change() -> None:
    monitor = ConnectivityMonitor("http://127.0.0.1:9/")
    flips: list[bool] = []
    monitor.subscribe(flips.append)
    monitor.report(True)
    monitor.report(False)
    monitor.report(False)
    monitor.report(True)
    assert flips == [False, True]
    assert monitor.status()["online"] is True


async def test_the_first_probe_that_finds_alipay_reachable_is_told_once_though_nothing_flipped() -> None:
    """A restart in an outage that ended before the first probe: the monitor was optimistic, nothing
    flips, yet jobs the previous process left backing off must be retried now (the daemon wakes its
    outbox on this)."""
    server = await answering(b"HTTP/1.1 200 OK")
    reachable: list[str] = []
    flips: list[bool] = []
    monitor = ConnectivityMonitor(url_of(server), online_interval=0.05, offline_interval=0.05, min_gap=0.01)
    monitor.subscribe(flips.append)
    monitor.when_first_reachable(lambda: reachable.append("now"))
    monitor.start()
    try:
        for _ in range(200):
            if reachable:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # several more probes: still told only once
        assert reachable == ["now"] and flips == []
    finally:
        await monitor.stop()
        server.close()


async def test_no_reachable_news_while_every_probe_fails() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reachable: list[str] = []
    monitor = ConnectivityMonitor(f"http://127.0.0.1:{port}/", online_interval=0.05, offline_interval=0.05,
                                  min_gap=0.01, timeout=0.5)  # fmt: skip
    monitor.when_first_reachable(lambda: reachable.append("now"))
    monitor.start()
    try:
        for _ in range(100):
            if not monitor.online:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        assert monitor.online is False and reachable == []
    finally:
        await monitor.stop()
