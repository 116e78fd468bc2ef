"""python-escpos, imported here only, so that its import leaves nothing behind.

On import python-escpos parses its printer database (~0.1 s) and pickles it into a fresh
`tempfile.mkdtemp()` directory that nothing removes (it makes that directory even when its
ESCPOS_CAPABILITIES_PICKLE_DIR setting points elsewhere): one more directory in /tmp for every
process that prints (the agent, each `posagent test-print`, each test run). The pickle would only
speed up a second import in the same process, which never happens: the import runs with the
temporary directory pointed at a scratch directory removed right after.
Imported by the modules that need python-escpos, when they need it: an idle agent does not.
"""

from __future__ import annotations

import tempfile

with tempfile.TemporaryDirectory(prefix="posagent-escpos-") as _scratch:
    _previous, tempfile.tempdir = tempfile.tempdir, _scratch
    try:
        from escpos.printer import Dummy, Serial, Usb
    finally:
        tempfile.tempdir = _previous

__all__ = ["Dummy", "Serial", "Usb"]
