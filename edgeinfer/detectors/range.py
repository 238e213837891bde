"""Range: a value beyond everything the channel read over the last ``window`` samples.

A new high or low is the plainest anomaly there is, and one that needs no model of
noise: the score is how far the value lies outside ``[min, max]`` of the window, in
units of ``margin`` times the window's span, so 1 means "a new extreme by
``margin`` of the usual range" and 0 means inside it. Ties and creeping records do
not count for much; a jump well past anything seen does.
"""

from __future__ import annotations

import math

from edgeinfer.detectors.base import NOT_READY
from edgeinfer.detectors.window import SortedWindow

MIN_SAMPLES = 50
"""Samples in the window before its range means anything."""

RELATIVE_FLOOR = 1e-9
"""Least span, relative to the range's magnitude (a window that never varied)."""


class RangeScorer:
    """Distance beyond the window's min/max, in units of ``margin * (max - min)``."""

    def __init__(self, window: int = 10_000, margin: float = 0.02, name: str = "range"):
        if window < MIN_SAMPLES:
            raise ValueError(f"window must be at least {MIN_SAMPLES}, not {window}")
        if margin <= 0:
            raise ValueError(f"margin must be greater than 0, not {margin}")
        self.name = name
        self.margin = margin
        self.baseline = math.nan
        self._window = SortedWindow(window)

    def update(self, timestamp: float, value: float) -> float:
        """Score ``value`` against the window's range, then add it to the window."""
        window = self._window
        score = NOT_READY
        values = window.values
        if len(values) >= MIN_SAMPLES:
            low, high = values[0], values[-1]
            unit = self.margin * max(high - low, RELATIVE_FLOOR * max(1.0, abs(high)))
            if value > high:
                self.baseline, score = high, (value - high) / unit
            elif value < low:
                self.baseline, score = low, (low - value) / unit
            else:
                self.baseline = high if value - low > high - value else low
                score = 0.0
        window.push(value)
        return score

    def on_gap(self) -> None:
        """Nothing to drop: the range spans the gap."""
