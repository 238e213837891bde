"""The gate in front of every detector: bad samples are dropped and counted.

A detector's state assumes finite values at strictly increasing times, so each
sample is checked before it reaches a scorer, and every rejection is counted by
reason instead of raised: a sensor that sends garbage must degrade its own
detection, never stop the stream. Gaps are not rejected (the sample is good) but
counted, and the scorers are told so that they do not, say, compute a rate of
change across a day of silence.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

Verdict = Literal["ok", "gap"]
"""A sample that passed: ``gap`` when it came after a gap."""

TYPICAL_INTERVAL_ALPHA = 0.05
"""Weight of each new interval in the running typical interval (about 20 samples)."""


@dataclass
class InputCounts:
    """Samples a detector dropped, by reason, and gaps it saw (each a count).

    ``missing``: the channel was absent from the reading; ``nan``: empty or
    non-numeric field, or NaN; ``inf``: an infinite value; ``bad_time``: a
    timestamp that is not finite; ``duplicate_time``: the same timestamp as the
    previous sample; ``out_of_order``: older than the previous sample; ``gap``:
    (kept) the interval since the previous sample was over ``gap_factor`` times
    the typical one.
    """

    missing: int = 0
    nan: int = 0
    inf: int = 0
    bad_time: int = 0
    duplicate_time: int = 0
    out_of_order: int = 0
    gap: int = 0

    @property
    def dropped(self) -> int:
        """Samples not scored, whatever the reason."""
        return (
            self.missing
            + self.nan
            + self.inf
            + self.bad_time
            + self.duplicate_time
            + self.out_of_order
        )

    def to_json(self) -> dict[str, int]:
        """The counts by reason."""
        return asdict(self)


class TypicalInterval:
    """The usual spacing of samples (s), learned from their timestamps.

    An exponentially weighted mean of the intervals, each weighing
    ``TYPICAL_INTERVAL_ALPHA``; an interval over ``gap_factor`` times the current
    estimate is a gap and is left out, so a night of silence does not make the
    sensor look slow. NaN until the second sample.
    """

    def __init__(self, gap_factor: float = 10.0) -> None:
        self.gap_factor = gap_factor
        self.value = math.nan
        self._last = math.nan

    def update(self, timestamp: float) -> bool:
        """Learn from the sample at ``timestamp`` (increasing); True after a gap."""
        interval = timestamp - self._last
        self._last = timestamp
        typical = self.value
        if math.isnan(typical):
            if interval > 0:  # NaN for the first sample
                self.value = interval
            return False
        if interval > self.gap_factor * typical:
            return True
        self.value = typical + TYPICAL_INTERVAL_ALPHA * (interval - typical)
        return False


class SampleGuard:
    """Checks samples in arrival order; ``check`` says whether one may be scored.

    An interval over ``gap_factor`` times the typical one (``TypicalInterval``) is
    a gap.
    """

    def __init__(self, gap_factor: float = 10.0) -> None:
        if gap_factor <= 1:
            raise ValueError(f"gap_factor must be greater than 1, not {gap_factor}")
        self.counts = InputCounts()
        self.interval = TypicalInterval(gap_factor)
        self.last_time = -math.inf

    def check(self, timestamp: float, value: float | None) -> Verdict | None:
        """``ok`` or ``gap`` for a good sample, None (counted) for a dropped one."""
        fault = self._fault(timestamp, value)
        if fault is not None:
            setattr(self.counts, fault, getattr(self.counts, fault) + 1)
            return None
        self.last_time = timestamp
        if self.interval.update(timestamp):
            self.counts.gap += 1
            return "gap"
        return "ok"

    def _fault(self, timestamp: float, value: float | None) -> str | None:
        """Why the sample cannot be scored (an ``InputCounts`` field), or None."""
        if value is None:
            return "missing"
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf"
        if not math.isfinite(timestamp):
            return "bad_time"
        if timestamp <= self.last_time:
            return "duplicate_time" if timestamp == self.last_time else "out_of_order"
        return None
