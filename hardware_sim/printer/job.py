"""Splits a command stream into print jobs (each cut ends one) and renders each (pure, no I/O).

The end of a stream also ends a job, if anything was printed since the last cut: a driver that
only polled status leaves no empty job behind. A cut with nothing printed since the previous one
(two cuts in a row, feeds only) cuts blank paper: it makes no page; its bytes and notes go with
the next job. Cash-drawer pulses are recorded as events of the job they arrive in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from PIL import Image

from hardware_sim.printer import commands as c
from hardware_sim.printer.render import PAPER_WIDTHS, Renderer

# Commands that put something on paper: a stream ending after one of these leaves a job.
_MARKS_PAPER = (c.Text, c.Feed, c.RasterImage, c.ColumnImage, c.GraphicsPrint, c.QrPrint, c.Barcode, c.Symbol2DPrint)
_UNKNOWN_SAMPLES = 8


@dataclass
class RenderedJob:
    """One job: its image, its print data and what the parser made of it."""

    image: Image.Image
    raw: bytes
    commands: int
    unknown: int
    truncated: int
    qr_payloads: list[bytes]
    unknown_samples: list[str] = field(default_factory=list)  # hex of the first unknown commands
    notes: list[str] = field(default_factory=list)
    cut: bool = True  # False: ended by the end of the stream
    events: list[dict[str, object]] = field(default_factory=list)  # e.g. drawer pulses, in order


class JobAssembler:
    """Feed it parsed commands; it returns each job as it is finished."""

    def __init__(self, width_dots: int = PAPER_WIDTHS[80], encoding: str | None = None) -> None:
        self._renderer = Renderer(width_dots, encoding)
        # Drawer pulses since the printer was switched on, those after the last cut included
        # (they belong to no page): tests and the status page read these.
        self.drawer_pulses = 0
        self.last_drawer_pulse: dict[str, object] | None = None
        self._reset()

    def _reset(self) -> None:
        """Start a new job (the counters that outlive jobs are set in __init__)."""
        self._raw = bytearray()
        self._commands = 0
        self._unknown = 0
        self._truncated = 0
        self._samples: list[str] = []
        self._marked = False
        self._events: list[dict[str, object]] = []
        self._carried_notes: list[str] = []

    def add(self, commands: Iterable[c.Command]) -> list[RenderedJob]:
        finished: list[RenderedJob] = []
        for command in commands:
            job = self.add_one(command)
            if job is not None:
                finished.append(job)
        return finished

    def add_one(self, command: c.Command) -> RenderedJob | None:
        if isinstance(command, c.StatusRequest) and command.command == "DLE EOT":
            return None  # real-time: answered on arrival, its bytes may sit inside other data
        self._commands += 1
        self._raw += command.raw
        if isinstance(command, c.Unknown | c.Truncated):
            if isinstance(command, c.Unknown):
                self._unknown += 1
            else:
                self._truncated += 1
            if len(self._samples) < _UNKNOWN_SAMPLES:
                self._samples.append(command.raw[:16].hex(" "))
        self._marked = self._marked or isinstance(command, _MARKS_PAPER)
        if isinstance(command, c.CashDrawer):
            self.drawer_pulses += 1
            self.last_drawer_pulse = {"pin": command.pin, "on_ms": command.on_ms, "off_ms": command.off_ms}
            self._events.append({"event": "drawer_pulse", **self.last_drawer_pulse})
        self._renderer.apply(command)
        if isinstance(command, c.Cut):
            if not self._renderer.inked:
                blank = self._renderer.finish_page()  # blank paper: cut off, no page
                self._carried_notes += [note for note in blank.notes if note not in self._carried_notes]
                self._marked = False
                return None
            return self._finish(cut=True)
        return None

    def end_of_stream(self) -> RenderedJob | None:
        """The connection or file ended: what was printed since the last cut is a job too."""
        if not self._marked and not self._unknown and not self._truncated and not self._carried_notes:
            self._reset()
            return None
        return self._finish(cut=False)

    def _finish(self, cut: bool) -> RenderedJob:
        page = self._renderer.finish_page()
        job = RenderedJob(
            image=page.image,
            raw=bytes(self._raw),
            commands=self._commands,
            unknown=self._unknown,
            truncated=self._truncated,
            qr_payloads=page.qr_payloads,
            unknown_samples=self._samples,
            notes=self._carried_notes + [note for note in page.notes if note not in self._carried_notes],
            cut=cut,
            events=self._events,
        )
        self._reset()
        return job
