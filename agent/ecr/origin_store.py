"""The origin book on disk: `<state_dir>/ecr_origins.json` (mode 0600, hashes only).

Why a JSON file and not the SQLite database: the book is a handful of entries, written by two
processes (the CLI pairs and revokes; the daemon consumes codes and records last use), and read by
the daemon on every WebSocket handshake. A small file replaced atomically (write a temporary file,
fsync, rename) is never seen half-written; an exclusive `flock` on a lock file beside it makes each
read-modify-write whole, so a CLI revoke and a daemon pairing cannot lose each other's change. The
daemon notices the CLI's changes by the file's (mtime, size, inode), checked on each handshake and
once a second (a revoked origin's live connections are then closed).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from agent.atomic_file import write_atomically

from .origins import OriginBook

FILE_NAME = "ecr_origins.json"
T = TypeVar("T")


class OriginStoreError(Exception):
    """The book cannot be read or written: a one-line reason naming the file."""


def store_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


class OriginStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._seen: tuple[int, int, int] | None = None
        self._book = OriginBook()

    def stamp(self) -> tuple[int, int, int] | None:
        """What identifies the file's current version (None: no file yet)."""
        return self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise OriginStoreError(f"cannot read {self.path}: {exc.strerror}") from None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def current(self) -> OriginBook:
        """The book as on disk now (re-read only when the file changed)."""
        stamp = self._stamp()
        if stamp != self._seen:
            self._book = self._read()
            self._seen = stamp
        return self._book

    def _read(self) -> OriginBook:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return OriginBook()
        except OSError as exc:
            raise OriginStoreError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            return OriginBook.from_json(json.loads(text))
        except ValueError as exc:
            raise OriginStoreError(f"{self.path} is damaged ({exc}); move it aside and pair the origins again") \
                from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._owned_by_agent(fd)
        except OSError as exc:
            raise OriginStoreError(f"cannot open {self._lock_path}: {exc.strerror} "
                                   "(run as root or as the agent's user)") from None  # fmt: skip
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update(self, change: Callable[[OriginBook], T]) -> T:
        """Read, change and write the book back, whole, under the lock."""
        with self._locked():
            book = self._read()
            before = book.to_json()
            result = change(book)
            if book.to_json() != before:  # a refused try at nothing pending writes nothing: no disk churn
                self._write(book)
            self._book, self._seen = book, self._stamp()
            return result

    def _owned_by_agent(self, fd: int) -> None:
        """The CLI runs as root, the daemon as the service user: a file root makes in the state dir is
        handed to the dir's owner, or the daemon could not use it."""
        if os.geteuid() == 0:
            st = os.stat(self.path.parent)
            if st.st_uid != 0:
                os.fchown(fd, st.st_uid, st.st_gid)

    def _write(self, book: OriginBook) -> None:
        # The book takes the state dir's owner too (see _owned_by_agent): the daemon must read it.
        data = json.dumps(book.to_json(), indent=1).encode("utf-8")
        try:
            write_atomically(self.path, data, mode=0o600, owner_of=self.path.parent)
        except OSError as exc:
            raise OriginStoreError(f"cannot write {self.path}: {exc.strerror}") from None
