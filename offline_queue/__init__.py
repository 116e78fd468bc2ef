"""The durable outbox: jobs, keys, states and policies. Knows nothing of Alipay.

    outbox = Outbox.open(path, key_file=..., policies={"card.update": KindPolicy(absolute=True)})
    outbox.enqueue("card.update", {...}, idempotency_key=..., ordering_key=card_no, business_time=t)
    dispatcher = Dispatcher(outbox, handlers={"card.update": send_update}, concurrency=4)
    await dispatcher.run()          # dispatcher.wake() when the line is back

Modules: `outbox` (the SQLite store), `dispatcher` (asyncio shell), `backoff`, `coalesce`,
`transitions`, `ratelimit` (pure policy code), `crypto` and `payload` (at-rest encryption),
`schema` (tables and migrations), `group_commit`.
"""

from offline_queue.backoff import Backoff
from offline_queue.crypto import create_key_file, load_key_file
from offline_queue.dispatcher import Dispatcher, Handler
from offline_queue.errors import (
    CorruptDatabase,
    IdempotencyConflict,
    KeyFileError,
    OutboxError,
    OutboxFull,
    OutboxTooLarge,
    PayloadUnreadable,
    UnknownJob,
)
from offline_queue.model import (
    Attempt,
    Caps,
    Dead,
    Done,
    Job,
    JobEvent,
    KindPolicy,
    Outcome,
    RetryLater,
    State,
    Stats,
    Unknown,
)
from offline_queue.outbox import KEY_LOST_REASON, Outbox

__all__ = [
    "KEY_LOST_REASON",
    "Attempt",
    "Backoff",
    "Caps",
    "CorruptDatabase",
    "Dead",
    "Dispatcher",
    "Done",
    "Handler",
    "IdempotencyConflict",
    "Job",
    "JobEvent",
    "KeyFileError",
    "KindPolicy",
    "Outbox",
    "OutboxError",
    "OutboxFull",
    "OutboxTooLarge",
    "Outcome",
    "PayloadUnreadable",
    "RetryLater",
    "State",
    "Stats",
    "Unknown",
    "UnknownJob",
    "create_key_file",
    "load_key_file",
]
