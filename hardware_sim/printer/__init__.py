"""ESC/POS receipt printer simulator: parses the byte stream, answers status, renders jobs to PNG.

Pure parts (tested directly): `parser` (bytes -> commands), `status` (state -> status bytes),
`render`/`job` (commands -> images), `engine` (the printer's behaviour). Thin shells: `server`
(TCP), `pty_port` (serial), `fifo_port` (device file), `admin` (HTTP control), `offline`
(render a captured file), `cli`.
"""

from hardware_sim.printer.simulator import PrinterSimulator
from hardware_sim.printer.sink import JobRecord

__all__ = ["JobRecord", "PrinterSimulator"]
