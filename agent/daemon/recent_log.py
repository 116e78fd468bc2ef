"""The last warnings and errors, masked, in memory: the status page's "recent errors"."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from agent.web import LogRow

from .logs import mask_secrets

KEEP = 50


class RecentLog(logging.Handler):
    def __init__(self, keep: int = KEEP, on_record: Callable[[], None] | None = None) -> None:
        super().__init__(logging.WARNING)
        self._rows: deque[LogRow] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.on_record = on_record  # called from whatever thread logged

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            row = LogRow(record.created, record.levelname, record.name, mask_secrets(message)[:500])
        except Exception:
            self.handleError(record)
            return
        with self._lock:
            self._rows.append(row)
        if self.on_record is not None:
            self.on_record()

    def rows(self, limit: int = 20) -> list[LogRow]:
        with self._lock:
            return list(self._rows)[-limit:][::-1]  # newest first
