"""Bounded waits: a test waits for a condition, and fails only if it never comes (a hang), never on speed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_until(condition: Callable[[], bool], *, attempts: int = 500, step: float = 0.01) -> None:
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError("condition not reached")
