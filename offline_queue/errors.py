"""Precise exceptions: every refusal of the outbox says what was refused and why."""

from __future__ import annotations

from pathlib import Path


class OutboxError(Exception):
    """Base class of every error the outbox raises."""


class OutboxFull(OutboxError):
    """`enqueue` refused: the pending-jobs cap is reached (nothing was stored)."""

    def __init__(self, pending: int, cap: int) -> None:
        super().__init__(f"outbox full: {pending} jobs pending, cap is {cap}; nothing was stored")
        self.pending = pending
        self.cap = cap


class OutboxTooLarge(OutboxError):
    """`enqueue` refused: the database file reached its size cap (nothing was stored)."""

    def __init__(self, size_bytes: int, cap_bytes: int) -> None:
        super().__init__(f"outbox database is {size_bytes} bytes, cap is {cap_bytes}; nothing was stored")
        self.size_bytes = size_bytes
        self.cap_bytes = cap_bytes


class IdempotencyConflict(OutboxError):
    """The idempotency key is already used by a job with a different kind or payload.

    Same key + same content returns the existing job (a safe resend); same key + different
    content is almost always a caller bug, so it is refused rather than silently ignored.
    """

    def __init__(self, idempotency_key_masked: str, existing_id: int) -> None:
        super().__init__(
            f"idempotency key {idempotency_key_masked} is already used by job {existing_id} "
            "with a different kind or payload"
        )
        self.existing_id = existing_id


class KeyFileError(OutboxError):
    """The at-rest key file is missing, readable by others, or not a valid key."""


class PayloadUnreadable(OutboxError):
    """A stored payload cannot be decrypted (key lost or replaced, or the row was tampered with)."""


class CorruptDatabase(OutboxError):
    """The database failed its integrity check; the outbox refuses to run on it.

    `moved_to` is where the broken file was moved (kept for forensics and manual recovery), or
    None if it was left in place.
    """

    def __init__(self, path: Path, detail: str, moved_to: Path | None) -> None:
        where = f"; moved aside to {moved_to}" if moved_to else "; left in place"
        super().__init__(f"outbox database {path} is corrupt ({detail}){where}")
        self.path = path
        self.detail = detail
        self.moved_to = moved_to


class UnknownJob(OutboxError, LookupError):
    """No job with this id."""
