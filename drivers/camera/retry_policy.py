"""When a camera stream's frame is read a second time (sans-I/O: the decoder times its reads, this decides).

A still image (`scan-test --image`) is always read again when the first read finds nothing: on the
zxing photo set that is where the retries find codes, and a missed photo is not shown again.
A live stream differs: most frames show nothing (an idle till) and the next frame comes ~100 ms
later, so retrying every empty frame made an idle camera cost ~3x a plain zxing-cpp read.

So on a stream the retries may spend only `share` of the time the first reads take, over the long
run, measured in seconds rather than frames: a retry costs 7x to 14x a first read depending on the
frame size (the double-size copy of 720p is 2560x1440), and seconds follow that without a table.
- A frame in which zxing-cpp located a symbol but could not decode it is retried whenever the
  credit is positive: that is the frame a retry is for (a worn code, a code too small).
- A frame with nothing located is retried only when the credit covers two retries, so one always
  stays in reserve for a located symbol; a code zxing-cpp cannot even locate still gets a
  retry now and then (every few seconds at 10 fps) while it stays in view.
Credit is capped at that reserve: an idle hour does not buy a burst of retries.
"""

from __future__ import annotations

from dataclasses import dataclass

# Retry time over first-read time, long run. Low enough that a frame costs at most ~1.1x a plain
# read even when the camera gives grayscale (for BGR frames our own grayscale conversion is
# cheaper than zxing-cpp's, so the decoder costs ~0.55x raw there).
STREAM_RETRY_SHARE = 0.1
# Before the first retry is timed: a guess of its cost in first reads (measured 7x-14x, see above).
FIRST_RETRY_GUESS = 10.0
# Retries' worth of credit needed before a frame with nothing located is retried (one is kept back).
RESERVE = 2.0


@dataclass
class StreamRetryBudget:
    """Decides, frame by frame, whether a stream frame the first read found nothing in is read again.

    The decoder calls `earn` after every first read, `should_retry` when it decoded nothing, and
    `spend` with what the retry cost.
    """

    share: float = STREAM_RETRY_SHARE
    credit: float = 0.0  # seconds of retrying earned and not yet spent (negative: a retry overspent)
    retry_seconds: float | None = None  # what the last retry cost
    _first_read_seconds: float = 0.0

    def earn(self, first_read_seconds: float) -> None:
        self._first_read_seconds = first_read_seconds
        self.credit = min(self.credit + self.share * first_read_seconds, RESERVE * self._estimate())

    def should_retry(self, *, located: bool) -> bool:
        """`located`: the first read found a symbol it could not decode."""
        if located:
            return self.credit > 0
        return self.credit >= RESERVE * self._estimate()

    def spend(self, retry_seconds: float) -> None:
        self.credit -= retry_seconds
        self.retry_seconds = retry_seconds

    def _estimate(self) -> float:
        if self.retry_seconds is None:
            return FIRST_RETRY_GUESS * self._first_read_seconds
        return self.retry_seconds
