"""Robust z-score: distance from the median of a sliding window, in MAD units.

The median and MAD ignore the odd spike inside the window, so one outlier does not
hide the next one, and a level shift is scored high until the window has moved
onto the new level. With ``recent`` > 1 the median of the last ``recent`` samples
is compared instead of the newest sample: slower to react to a single spike, but
it sees a modest sustained shift that no single sample makes stand out.
"""

from __future__ import annotations

import math

import numpy as np

from edgeinfer.detectors.base import NOT_READY
from edgeinfer.detectors.window import MAD_TO_SIGMA, SortedWindow

MIN_SAMPLES = 10
"""Samples in the window before a z-score means anything."""

MEAN_DEVIATION_TO_SIGMA = 1.2533
"""Mean absolute deviation times this is the standard deviation of normal samples."""

RELATIVE_FLOOR = 1e-9
"""Least scale, relative to the baseline's magnitude, so that a flat window gives a
very large but finite score to the first sample that leaves it."""

MEDIAN_EFFICIENCY = 1.2533
"""Standard error of the median of k normal samples, times sqrt(k) / sigma."""


def robust_scale(window: SortedWindow, center: float) -> float:
    """Standard deviation estimated from ``window``: MAD, else mean deviation.

    When over half the window holds one value the MAD is zero; the mean absolute
    deviation still sees the rest (this costs O(n), so it is only the fallback).
    """
    scale = window.mad(center) * MAD_TO_SIGMA
    if scale > 0:
        return scale
    values = np.asarray(window.values)
    scale = float(np.abs(values - center).mean()) * MEAN_DEVIATION_TO_SIGMA
    return max(scale, RELATIVE_FLOOR * max(1.0, abs(center)))


class RobustZScorer:
    """``|x - median| / (1.4826 MAD)`` over the last ``window`` samples before x."""

    def __init__(self, window: int = 288, recent: int = 1, name: str = "robust_z"):
        if window < MIN_SAMPLES:
            raise ValueError(f"window must be at least {MIN_SAMPLES}, not {window}")
        if not 1 <= recent < window:
            raise ValueError(f"recent must be between 1 and {window - 1}, not {recent}")
        self.name = name
        self.baseline = math.nan
        self._window = SortedWindow(window)
        self._recent = SortedWindow(recent) if recent > 1 else None
        # A median of k samples varies sqrt(k)/1.2533 times less than one sample.
        self._shrink = math.sqrt(recent) / MEDIAN_EFFICIENCY if recent > 1 else 1.0

    def update(self, timestamp: float, value: float) -> float:
        """Score ``value`` against the window, then add it to the window."""
        window, recent = self._window, self._recent
        probe = value
        if recent is not None:
            recent.push(value)
            probe = recent.median()
        score = NOT_READY
        if len(window.values) >= MIN_SAMPLES:
            center = window.median()
            self.baseline = center
            score = abs(probe - center) / robust_scale(window, center) * self._shrink
        window.push(value)
        return score

    def on_gap(self) -> None:
        """The recent samples no longer belong together."""
        if self._recent is not None:
            self._recent.clear()
