"""The kernel's printer device (/dev/usb/lp*) or any file, with bounded writes.

python-escpos's File opens the device with a blocking `open(..., "wb")`: a printer that stops
taking data would hang the writer. Here the device is opened non-blocking and every write waits
for it with poll() and a deadline. usblp can read replies from bidirectional printers, so status
is read from character devices; regular files and pipes cannot answer (status stays unknown).
"""

from __future__ import annotations

import contextlib
import os
import select
import stat

from drivers.printer.transport import LinkTransport
from drivers.printer.uri import FileAddress


class FileTransport(LinkTransport):
    bytes_per_second = 20_000.0

    def __init__(self, address: FileAddress) -> None:
        super().__init__()
        self.address = address
        self.name = str(address)
        self.can_read = False
        self._fd: int | None = None

    def _open(self) -> None:
        path = self.address.path
        flags = os.O_NONBLOCK | os.O_NOCTTY
        is_device = stat.S_ISCHR(os.stat(path).st_mode) if os.path.exists(path) else False
        if is_device:
            try:
                self._fd = os.open(path, os.O_RDWR | flags)
                self.can_read = True
                return
            except OSError:
                pass  # a write-only device node: print without status
        # Never create files under /dev: an unplugged printer's node would come back as a plain file.
        create = 0 if is_device or path.startswith("/dev/") else os.O_CREAT
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | flags | create, 0o600)
        self.can_read = False

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _send(self, chunk: bytes, timeout: float) -> int:
        fd = self._descriptor()
        if not _poll(fd, select.POLLOUT, timeout):
            return 0
        try:
            return os.write(fd, chunk)
        except BlockingIOError:
            return 0

    def _recv(self, timeout: float) -> bytes:
        fd = self._descriptor()
        if not _poll(fd, select.POLLIN, timeout):
            return b""
        try:
            return os.read(fd, 256)
        except BlockingIOError:
            return b""

    def _discard_input(self) -> None:
        fd = self._descriptor()
        with contextlib.suppress(BlockingIOError):
            while _poll(fd, select.POLLIN, 0) and os.read(fd, 4096):
                pass

    def _descriptor(self) -> int:
        if self._fd is None:
            raise ConnectionError("not open")
        return self._fd


def _poll(fd: int, events: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, events | select.POLLERR | select.POLLHUP)
    ready = poller.poll(max(0, int(timeout * 1000)))
    for _, revents in ready:
        if revents & (select.POLLERR | select.POLLHUP) and not revents & events:
            raise BrokenPipeError("the printer device reported an error or hang-up")
    return bool(ready)
