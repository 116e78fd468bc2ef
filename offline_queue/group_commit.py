"""Group commit on one SQLite connection: concurrent writers share a transaction (and its fsync).

Leader/follower, as databases do it: a caller queues its request; if no commit is running it
becomes the leader, otherwise it waits. When a commit ends, the callers whose requests it held
return and one of the others leads the next transaction with every request queued meanwhile,
each inside its own SAVEPOINT so one request's error does not undo the others'. Nobody returns
before the COMMIT holding their request has returned, so "returned" still means "durable". A
lone caller pays no thread hand-off at all, which keeps a single enqueue close to a bare insert.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Request(Generic[T]):
    __slots__ = ("error", "finished", "fn", "value")

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn = fn
        self.finished = False
        self.value: T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        on_begin: Callable[[sqlite3.Connection], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        """`on_begin` runs at the start of each transaction (refresh cached counters);
        `on_failure` after any rollback (invalidate them)."""
        self._conn = conn
        self._on_begin = on_begin
        self._on_failure = on_failure
        self._cond = threading.Condition(threading.Lock())
        self._leading = False
        self._queue: list[_Request[Any]] = []
        self.transactions = 0  # how many commits ran (the bench reports requests per commit)

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` inside a transaction and return its value once that is committed."""
        request: _Request[T] = _Request(fn)
        with self._cond:
            self._queue.append(request)
            while not request.finished and self._leading:
                self._cond.wait()
            lead = not request.finished
            if lead:
                self._leading = True
                batch, self._queue = self._queue, []
        if lead:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        return request.value  # type: ignore[return-value]

    def _commit(self, batch: list[_Request[Any]]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if self._on_begin is not None:
                    self._on_begin(conn)
                if len(batch) == 1:
                    # Alone: no savepoint needed, a failure rolls back the whole transaction.
                    self._run_alone(batch[0])
                else:
                    for request in batch:
                        self._run_in_savepoint(request)
                if conn.in_transaction:
                    conn.execute("COMMIT")
                    self.transactions += 1
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except BaseException as exc:
            # Nothing of this batch is durable: every request that had not failed on its own
            # gets the transaction's error.
            if self._on_failure is not None:
                self._on_failure()
            for request in batch:
                if request.error is None:
                    request.value = None
                    request.error = exc
        finally:
            for request in batch:
                request.finished = True

    def _run_alone(self, request: _Request[Any]) -> None:
        try:
            request.value = request.fn(self._conn)
        except Exception as exc:
            self._conn.execute("ROLLBACK")
            request.error = exc
            if self._on_failure is not None:
                self._on_failure()

    def _run_in_savepoint(self, request: _Request[Any]) -> None:
        conn = self._conn
        conn.execute("SAVEPOINT request")
        try:
            request.value = request.fn(conn)
        except Exception as exc:  # this request's own failure: undo only it
            conn.execute("ROLLBACK TO request")
            request.error = exc
            if self._on_failure is not None:
                self._on_failure()
        conn.execute("RELEASE request")
