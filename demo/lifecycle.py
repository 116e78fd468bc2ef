"""One way for both demos to end: whatever ends them (the end of the journey, Ctrl-C, SIGTERM), every
process they started is stopped, and a second signal cannot cut that clean-up short."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from demo.store import Child, stop_all


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a demo as Ctrl-C does: through the clean-up below


@contextmanager
def children_stopped_on_exit(children: list[Child]) -> Iterator[list[Child]]:
    """Hold `children` (filled as they start); on leaving, however it happens, stop them all."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        yield children
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(children)
