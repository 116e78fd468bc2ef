"""The event stream: rising `seq` numbers within an `epoch`, and the recent past kept for replay.

`epoch` changes when the agent restarts (seq starts again at 1); an ECR that reconnects with
`hello(last_seq, epoch)` gets every event after `last_seq` that is still kept, and `gap: true` when
some were lost (older than the buffer, or another epoch): it then asks `sale.get` for what matters.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

from .messages import event_message

DEFAULT_KEEP = 1000


@dataclass(frozen=True)
class Replay:
    messages: list[bytes]
    gap: bool


class EventLog:
    def __init__(self, keep: int = DEFAULT_KEEP, epoch: str | None = None) -> None:
        self.epoch = epoch or secrets.token_hex(6)
        self.seq = 0
        self._recent: deque[tuple[int, bytes]] = deque(maxlen=keep)

    def append(self, event: str, body: dict[str, Any]) -> bytes:
        self.seq += 1
        message = event_message(self.seq, self.epoch, event, body)
        self._recent.append((self.seq, message))
        return message

    def replay(self, last_seq: int | None, epoch: str | None) -> Replay:
        if last_seq is None:
            return Replay([], gap=False)
        if epoch is not None and epoch != self.epoch:
            # The agent restarted: old seq numbers mean nothing now; send what this epoch kept.
            return Replay([m for _, m in self._recent], gap=True)
        if last_seq > self.seq:
            return Replay([m for _, m in self._recent], gap=True)
        oldest = self._recent[0][0] if self._recent else self.seq + 1
        messages = [m for s, m in self._recent if s > last_seq]
        return Replay(messages, gap=last_seq + 1 < oldest)
