"""When a camera stream's frame is read a second time (sans-I/O: the decoder times its reads, this decides).

A still image (`scan-test --image`) is always read again when the first read finds nothing: on the
zxing photo set that is where the retries find codes, and a missed photo is not shown again.
A live stream differs: most frames show nothing (an idle till) and the next frame comes ~100 ms
later, so retrying every empty frame made an idle camera cost ~3x a plain zxing-cpp read.

So on a stream the retries may spend only `share` of the time the first reads take, over the long
run, counted in seconds (the decoder times its reads) rather than frames: the retries' cost
relative to a read depends on the frame size, and seconds follow that without a table.
- A frame in which zxing-cpp located a symbol it could not decode gets every retry (FULL) whenever
  the credit is positive: that is the frame the retries are for (a worn code, a code too small).
  The double-size copy costs ~13 first reads, so this may overspend; the debt is paid back first.
- A frame with nothing located gets only the cheap retries (the half-size copy, a quarter to a
  half of a read), and only when the credit covers them on top of one full retry kept in reserve
  for a located symbol: a code zxing-cpp cannot locate at full size still gets its chance every
  few frames while it stays in view.
Credit is capped at two full retries: an idle hour does not buy a burst of retries.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Retry time over first-read time, long run. Low enough that a frame costs at most ~1.1x a plain
# read even when the camera gives grayscale (for BGR frames our own grayscale conversion is
# cheaper than zxing-cpp's, so the decoder costs ~0.6x raw there).
STREAM_RETRY_SHARE = 0.1
# Before a kind of retry has been timed: guesses of its cost in first reads of the same frame
# (measured on 640x480 to 1080p: full 13x, or ~0.5x where the frame is too big to upscale; cheap 0.25-0.5x).
FULL_RETRY_GUESS = 10.0
CHEAP_RETRY_GUESS = 0.5
CAP_FULL_RETRIES = 2.0  # credit held at most, in full retries


class StreamRetry(enum.Enum):
    NONE = "none"
    CHEAP = "cheap"  # the cheap retries only (the half-size copy)
    FULL = "full"  # every retry


@dataclass
class StreamRetryBudget:
    """Decides, frame by frame, how a stream frame the first read decoded nothing in is read again.

    The decoder calls `earn` after every first read, `decide` when it decoded nothing, and `spend`
    with what the retry it made cost.
    """

    share: float = STREAM_RETRY_SHARE
    credit: float = 0.0  # seconds of retrying earned and not yet spent (negative: a retry overspent)
    # Each kind's last cost in first reads of its frame: ratios, so that a change of resolution
    # (or of machine load) moves the estimates with the first reads at once.
    full_cost: float = FULL_RETRY_GUESS
    cheap_cost: float = CHEAP_RETRY_GUESS
    _first_read_seconds: float = 0.0

    def earn(self, first_read_seconds: float) -> None:
        self._first_read_seconds = first_read_seconds
        cap = CAP_FULL_RETRIES * self.full_cost * first_read_seconds
        self.credit = min(self.credit + self.share * first_read_seconds, cap)

    def decide(self, *, located: bool) -> StreamRetry:
        """`located`: the first read found a symbol it could not decode."""
        if located:
            return StreamRetry.FULL if self.credit > 0 else StreamRetry.NONE
        reserve = self.full_cost * self._first_read_seconds
        if self.credit >= reserve + self.cheap_cost * self._first_read_seconds:
            return StreamRetry.CHEAP
        return StreamRetry.NONE

    def spend(self, retry: StreamRetry, retry_seconds: float) -> None:
        self.credit -= retry_seconds
        if self._first_read_seconds <= 0:
            return
        if retry is StreamRetry.FULL:
            self.full_cost = retry_seconds / self._first_read_seconds
        elif retry is StreamRetry.CHEAP:
            self.cheap_cost = retry_seconds / self._first_read_seconds
