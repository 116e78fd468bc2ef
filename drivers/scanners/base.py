"""Shared plumbing for device shells: reconnect backoff, event sinks, the asyncio bridge."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from drivers.scanners.events import DeviceState, DeviceStatus, ScannerEvent, SourceKind

EventSink = Callable[[ScannerEvent], None]


@dataclass
class Backoff:
    """Reconnect delays: exponential from `initial`, capped at `maximum`, with +-`jitter` spread.

    The cap is what bounds recovery after a device comes back (a replugged scanner is found again
    within `maximum` seconds), so it stays small: looking for a missing /dev path twice a second
    costs nothing, a cashier waiting for the scanner does.
    """

    initial: float = 0.05
    maximum: float = 0.5
    factor: float = 2.0
    jitter: float = 0.1
    _attempt: int = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        spread = base * self.jitter
        return max(0.0, min(self.maximum, base + random.uniform(-spread, spread)))

    def reset(self) -> None:
        self._attempt = 0


class DeviceWorker:
    """A device read loop in a daemon thread, with start/stop and a current status.

    Subclasses implement `_run()`, which must return soon after `self._stopping` is set.
    """

    source: SourceKind

    def __init__(self, device: str, sink: EventSink) -> None:
        self.device = device
        self._sink = sink
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = DeviceState.STOPPED

    @property
    def state(self) -> DeviceState:
        return self._state

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.device}: already started")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run_guarded, name=f"scanner {self.device}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> DeviceWorker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        raise NotImplementedError

    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a bug must show up as a status, not kill the daemon silently
            self._set_state(DeviceState.ERROR, f"reader crashed: {type(exc).__name__}")
            raise
        self._set_state(DeviceState.STOPPED)

    def _set_state(self, state: DeviceState, detail: str = "") -> None:
        if state is self._state:
            return
        self._state = state
        self._emit(DeviceStatus(self.device, self.source, state, detail))

    def _emit(self, event: ScannerEvent) -> None:
        with contextlib.suppress(Exception):  # a faulty consumer must not stop the reader
            self._sink(event)


class AsyncEventBridge:
    """Hands events from worker threads to one asyncio loop.

    Use `bridge.sink` as the scanners' sink, then `async for event in bridge.events(): ...`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, maxsize: int = 1000) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._queue: asyncio.Queue[ScannerEvent] = asyncio.Queue(maxsize)

    def sink(self, event: ScannerEvent) -> None:
        self._loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: ScannerEvent) -> None:
        if self._queue.full():  # nobody is consuming: keep the newest, drop the oldest
            self._queue.get_nowait()
        self._queue.put_nowait(event)

    async def get(self) -> ScannerEvent:
        return await self._queue.get()

    async def events(self) -> AsyncIterator[ScannerEvent]:
        while True:
            yield await self._queue.get()
