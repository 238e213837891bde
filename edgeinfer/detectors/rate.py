"""Rate of change: how fast the value moves, against how fast it usually moves.

The rate is ``(x - x_prev) / (t - t_prev)`` in units per second, so uneven sample
spacing does not look like a jump; it is scored with a robust z-score over the
last ``window`` rates. After a gap there is no previous sample to take a rate
from: the first sample after it only sets the new starting point.
"""

from __future__ import annotations

import math

from edgeinfer.detectors.base import NOT_READY
from edgeinfer.detectors.robust import RobustZScorer


class RateScorer:
    """Robust z-score of the rate of change over the last ``window`` rates."""

    def __init__(self, window: int = 288, name: str = "rate"):
        self.name = name
        self.baseline = math.nan
        self._rates = RobustZScorer(window, name=name)
        self._last: tuple[float, float] | None = None

    def update(self, timestamp: float, value: float) -> float:
        """Score the rate from the previous sample to this one, then learn it."""
        last, self._last = self._last, (timestamp, value)
        if last is None:
            self.baseline = value
            return NOT_READY
        then, before = last
        elapsed = timestamp - then
        score = self._rates.update(timestamp, (value - before) / elapsed)
        # Where the value would be had it moved at the usual (median) rate.
        usual = self._rates.baseline
        self.baseline = before + usual * elapsed if not math.isnan(usual) else before
        return score

    def on_gap(self) -> None:
        """Forget the previous sample: no rate is taken across a gap."""
        self._last = None
