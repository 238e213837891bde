"""Flatline: a sensor that stops moving (stuck, disconnected, frozen firmware).

The statistic is the length of the current run of repeated values: samples that
differ from the previous one by no more than ``tolerance`` of its magnitude. A
channel that repeats values as a matter of course (a slow counter, a coarse ADC) has
long runs in its own history, so calibrated against that history only a run much
longer than usual scores high; a noisy channel that suddenly repeats itself scores
high at once. Spikes, shifts and drifts move the value and leave it at zero.
"""

from __future__ import annotations

import math

from edgeinfer.detectors.base import NOT_READY


class FlatScorer:
    """Length (samples) of the current run of repeated values."""

    def __init__(self, tolerance: float = 1e-9, name: str = "flat") -> None:
        self.name = name
        self.tolerance = tolerance
        self.baseline = math.nan
        self._last: float | None = None
        self._run = 0

    def update(self, timestamp: float, value: float) -> float:
        """Score the run this sample extends (0 when it moved)."""
        last, self._last = self._last, value
        if last is None:
            return NOT_READY
        if abs(value - last) <= self.tolerance * max(1.0, abs(last)):
            self._run += 1
        else:
            self._run = 0
        self.baseline = last
        return float(self._run)

    def on_gap(self) -> None:
        """After a gap a repeat is no evidence of a stuck sensor: start again."""
        self._last, self._run = None, 0
